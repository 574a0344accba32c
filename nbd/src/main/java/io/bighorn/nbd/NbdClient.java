package io.bighorn.nbd;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;

/**
 * An NBD client for one connection: the fixed newstyle handshake with {@code NBD_OPT_GO} (or {@code
 * NBD_OPT_EXPORT_NAME} where a server does not know it), then simple requests, one at a time; a caller
 * that wants several in flight opens several clients (Bighorn's server allows it: {@code
 * CAN_MULTI_CONN}). Used to write a restored backup into a volume an engine serves; it speaks to any NBD
 * server (qemu-nbd, nbdkit). Thread-safe: requests from several threads are serialised.
 */
public final class NbdClient implements AutoCloseable {
    /** Requests larger than this are split (servers commonly refuse more than 32 MiB). */
    static final int MAX_REQUEST = 32 << 20;

    private static final int DEFAULT_PORT = 10809;
    private final String url;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final long size;
    private final int flags;
    private long handles;
    private boolean closed;

    private NbdClient(String url, Socket socket, DataInputStream in, DataOutputStream out, long size, int flags) {
        this.url = url;
        this.socket = socket;
        this.in = in;
        this.out = out;
        this.size = size;
        this.flags = flags;
    }

    /** Connects to {@code nbd://HOST[:PORT]/EXPORT} and opens the export. */
    public static NbdClient connect(String url) throws IOException {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not an NBD URL: " + url, e);
        }
        if (!"nbd".equals(uri.getScheme()) || uri.getHost() == null) {
            throw new IllegalArgumentException("not an NBD URL: " + url + " (expected nbd://HOST[:PORT]/EXPORT)");
        }
        String export = uri.getPath() == null ? "" : uri.getPath().replaceFirst("^/", "");
        int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(uri.getHost(), port), 10_000);
            socket.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            long[] sizeAndFlags = handshake(url, export, in, out);
            return new NbdClient(url, socket, in, out, sizeAndFlags[0], (int) sizeAndFlags[1]);
        } catch (IOException | RuntimeException e) {
            socket.close();
            if (e instanceof IOException && !(e instanceof NbdException)) {
                throw new IOException("cannot open " + url + ": " + e.getMessage(), e);
            }
            throw e;
        }
    }

    /** The server refused something; the message says what. */
    public static final class NbdException extends IOException {
        private static final long serialVersionUID = 1L;

        NbdException(String message) {
            super(message);
        }
    }

    private static long[] handshake(String url, String export, DataInputStream in, DataOutputStream out)
            throws IOException {
        if (in.readLong() != Protocol.NBDMAGIC || in.readLong() != Protocol.IHAVEOPT) {
            throw new NbdException(url + " is not a newstyle NBD server");
        }
        int serverFlags = in.readUnsignedShort();
        if ((serverFlags & Protocol.FLAG_FIXED_NEWSTYLE) == 0) {
            throw new NbdException(url + " does not speak the fixed newstyle handshake");
        }
        boolean noZeroes = (serverFlags & Protocol.FLAG_NO_ZEROES) != 0;
        out.writeInt(Protocol.FLAG_C_FIXED_NEWSTYLE | (noZeroes ? Protocol.FLAG_C_NO_ZEROES : 0));
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        out.writeLong(Protocol.IHAVEOPT);
        out.writeInt(Protocol.OPT_GO);
        out.writeInt(4 + name.length + 2);
        out.writeInt(name.length);
        out.write(name);
        out.writeShort(0);
        out.flush();
        long size = -1;
        int flags = 0;
        while (true) {
            if (in.readLong() != Protocol.OPTION_REPLY_MAGIC) {
                throw new NbdException(url + " sent a bad option reply");
            }
            in.readInt(); // the option
            int type = in.readInt();
            int length = in.readInt();
            if (length < 0 || length > (1 << 20)) {
                throw new NbdException(url + " sent an option reply of " + length + " bytes");
            }
            byte[] data = in.readNBytes(length);
            if (data.length < length) {
                throw new EOFException("connection closed during the handshake");
            }
            if (type == Protocol.REP_INFO && length >= 12) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(data);
                if (b.getShort() == Protocol.INFO_EXPORT) {
                    size = b.getLong();
                    flags = b.getShort() & 0xffff;
                }
            } else if (type == Protocol.REP_ACK) {
                if (size < 0) {
                    throw new NbdException(url + " did not say the export's size");
                }
                return new long[] {size, flags};
            } else if (type == Protocol.REP_ERR_UNSUP) {
                // an old server: NBD_OPT_EXPORT_NAME, which answers with size and flags, or closes
                out.writeLong(Protocol.IHAVEOPT);
                out.writeInt(Protocol.OPT_EXPORT_NAME);
                out.writeInt(name.length);
                out.write(name);
                out.flush();
                size = in.readLong();
                flags = in.readUnsignedShort();
                if (!noZeroes) {
                    in.skipNBytes(124);
                }
                return new long[] {size, flags};
            } else if ((type & 0x80000000) != 0) {
                String message = new String(data, StandardCharsets.UTF_8);
                throw new NbdException(url + " refused export '" + export + "'"
                        + (type == Protocol.REP_ERR_UNKNOWN ? " (no such export)" : "")
                        + (message.isEmpty() ? "" : ": " + message));
            }
        }
    }

    public long size() {
        return size;
    }

    public boolean readOnly() {
        return (flags & 2) != 0;
    }

    public boolean canFlush() {
        return (flags & Protocol.FLAG_SEND_FLUSH) != 0;
    }

    public boolean canWriteZeroes() {
        return (flags & Protocol.FLAG_SEND_WRITE_ZEROES) != 0;
    }

    public boolean canMultiConn() {
        return (flags & Protocol.FLAG_CAN_MULTI_CONN) != 0;
    }

    public void write(long offset, byte[] data, int from, int length) throws IOException {
        check(offset, length);
        for (int done = 0; done < length; ) {
            int n = Math.min(MAX_REQUEST, length - done);
            request(Protocol.CMD_WRITE, offset + done, n, data, from + done, false);
            done += n;
        }
    }

    public void read(long offset, byte[] dst, int from, int length) throws IOException {
        check(offset, length);
        for (int done = 0; done < length; ) {
            int n = Math.min(MAX_REQUEST, length - done);
            byte[] got = request(Protocol.CMD_READ, offset + done, n, null, 0, true);
            System.arraycopy(got, 0, dst, from + done, n);
            done += n;
        }
    }

    /** Makes the range read as zeros: WRITE_ZEROES where the server has it, else writes of zeros. */
    public void writeZeroes(long offset, long length) throws IOException {
        check(offset, length);
        for (long done = 0; done < length; ) {
            int n = (int) Math.min(MAX_REQUEST, length - done);
            if (canWriteZeroes()) {
                request(Protocol.CMD_WRITE_ZEROES, offset + done, n, null, 0, false);
            } else {
                request(Protocol.CMD_WRITE, offset + done, n, new byte[n], 0, false);
            }
            done += n;
        }
    }

    /** Makes every completed write durable, where the server supports it. */
    public void flush() throws IOException {
        if (canFlush()) {
            request(Protocol.CMD_FLUSH, 0, 0, null, 0, false);
        }
    }

    private void check(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IllegalArgumentException(
                    "range [" + offset + ", " + (offset + length) + ") is outside " + url + " (" + size + " bytes)");
        }
    }

    /** Sends one request and waits for its reply; the data of a read, else null. */
    private synchronized byte[] request(int type, long offset, int length, byte[] data, int from, boolean read)
            throws IOException {
        if (closed) {
            throw new IOException("NBD connection to " + url + " is closed");
        }
        long handle = ++handles;
        try {
            out.writeInt(Protocol.REQUEST_MAGIC);
            out.writeShort(0);
            out.writeShort(type);
            out.writeLong(handle);
            out.writeLong(offset);
            out.writeInt(length);
            if (data != null) {
                out.write(data, from, length);
            }
            out.flush();
            if (in.readInt() != Protocol.SIMPLE_REPLY_MAGIC) {
                throw new NbdException(url + " sent a bad reply");
            }
            int error = in.readInt();
            if (in.readLong() != handle) {
                throw new NbdException(url + " answered another request");
            }
            if (error != 0) {
                throw new NbdException(url + " failed " + name(type) + " of " + length + " bytes at " + offset
                        + ": error " + error + errno(error));
            }
            if (!read) {
                return null;
            }
            byte[] got = in.readNBytes(length);
            if (got.length < length) {
                throw new EOFException("connection closed during a read");
            }
            return got;
        } catch (IOException e) {
            closeQuietly();
            throw e instanceof NbdException ? e : new IOException("NBD connection to " + url + " failed: " + e, e);
        }
    }

    private static String name(int type) {
        return switch (type) {
            case Protocol.CMD_READ -> "a read";
            case Protocol.CMD_WRITE -> "a write";
            case Protocol.CMD_FLUSH -> "a flush";
            case Protocol.CMD_WRITE_ZEROES -> "a write of zeroes";
            default -> "command " + type;
        };
    }

    private static String errno(int error) {
        return switch (error) {
            case 1 -> " (EPERM)";
            case 5 -> " (EIO)";
            case 12 -> " (ENOMEM)";
            case 22 -> " (EINVAL)";
            case 28 -> " (ENOSPC)";
            case 75 -> " (EOVERFLOW)";
            case 95 -> " (ENOTSUP)";
            case 108 -> " (ESHUTDOWN)";
            default -> "";
        };
    }

    private void closeQuietly() {
        closed = true;
        try {
            socket.close();
        } catch (IOException ignored) {
            // already failing
        }
    }

    /** Says goodbye (NBD_CMD_DISC) and closes; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            out.writeInt(Protocol.REQUEST_MAGIC);
            out.writeShort(0);
            out.writeShort(Protocol.CMD_DISC);
            out.writeLong(++handles);
            out.writeLong(0);
            out.writeInt(0);
            out.flush();
        } catch (IOException ignored) {
            // the server is gone: nothing to say goodbye to
        }
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
