package io.bighorn.nbd;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * An NBD client on one TCP connection: the fixed newstyle handshake with {@code NBD_OPT_GO} (falling back to
 * {@code NBD_OPT_EXPORT_NAME} where a server does not know GO), then simple replies only (no TLS, no
 * structured replies). Used by {@code bighorn backup restore --nbd} to write into a volume an engine serves;
 * it speaks to any NBD server (qemu-nbd, nbdkit).
 *
 * <p><b>Pipelined and thread-safe.</b> Any number of threads may call {@link #read}, {@link #write}, {@link
 * #writeZeroes} and {@link #flush} at once. Each request gets a unique handle and is sent whole under a lock;
 * one reader thread takes the replies, in whatever order the server sends them, and hands each to the caller
 * waiting for its handle (the data of a READ goes straight into the caller's array). A call blocks until its
 * replies have arrived. A call larger than {@link #MAX_REQUEST} is split into several requests, a few of them
 * in flight at once.
 *
 * <p><b>Errors.</b> An error reply fails that call with an {@link IOException} naming the NBD error and the
 * range. A broken connection (end of stream, a reset, a reply that makes no sense) fails every waiting and
 * every later call with an {@link IOException} naming the server; no call waits for a connection that is
 * gone. Requests outside the export are refused locally with {@link IllegalArgumentException}.
 */
public final class NbdClient implements AutoCloseable {
    /** Requests larger than this are split (servers commonly refuse READ/WRITE payloads over 32 MiB). */
    static final int MAX_REQUEST = 32 << 20;

    /** Requests one call keeps in flight at once when it is split. */
    static final int WINDOW = 8;

    /** The size of the zero buffer a WRITE_ZEROES falls back to, where a server lacks the command. */
    static final int ZERO_CHUNK = 4 << 20;

    static final int DEFAULT_PORT = 10809;
    private static final int CONNECT_TIMEOUT_MS = 10_000;
    private static final int HANDSHAKE_TIMEOUT_MS = 30_000;
    /** How long {@link #close()} lets requests in flight finish before it closes the socket under them. */
    private static final long CLOSE_WAIT_SECONDS = 10;
    /** The longest option reply read during the handshake. */
    private static final int MAX_OPTION_REPLY = 1 << 20;

    private final String url;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final long size;
    private final int flags;
    private final Thread reader;

    /** Held while one request is written to the socket. */
    private final ReentrantLock sending = new ReentrantLock();

    private final Object state = new Object();
    /** Requests sent and not yet answered, by handle. Guarded by {@link #state}. */
    private final Map<Long, Pending> pending = new HashMap<>();
    /** Why no more requests can be sent: a broken connection, or {@link #close()}. Guarded by {@link #state}. */
    private IOException failure;

    private boolean closed;
    /** Guarded by {@link #sending}. */
    private long handles;

    /** One request sent: where a READ's data goes, and its outcome (the NBD error, 0 for success). */
    private record Pending(int type, long offset, long length, byte[] dst, int from, CompletableFuture<Integer> done) {}

    private NbdClient(String url, Socket socket, DataInputStream in, DataOutputStream out, long size, int flags) {
        this.url = url;
        this.socket = socket;
        this.in = in;
        this.out = out;
        this.size = size;
        this.flags = flags;
        this.reader = Thread.ofPlatform()
                .daemon()
                .name("nbd-client " + socket.getRemoteSocketAddress())
                .unstarted(this::readReplies);
    }

    /**
     * Connects to {@code nbd://HOST[:PORT]/EXPORT} (port 10809 by default; the export name may be empty) and
     * opens the export.
     *
     * @throws IllegalArgumentException if {@code url} is not such a URL
     * @throws IOException if the server cannot be reached, is not an NBD server, or refuses the export
     */
    public static NbdClient connect(String url) throws IOException {
        Objects.requireNonNull(url, "url");
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not an NBD URL: " + url + " (expected nbd://HOST[:PORT]/EXPORT)", e);
        }
        if (!"nbd".equalsIgnoreCase(uri.getScheme())
                || uri.getHost() == null
                || uri.getRawQuery() != null
                || uri.getRawFragment() != null) {
            throw new IllegalArgumentException("not an NBD URL: " + url + " (expected nbd://HOST[:PORT]/EXPORT)");
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        String export = path.startsWith("/") ? path.substring(1) : path;
        if (export.getBytes(StandardCharsets.UTF_8).length > Protocol.MAX_STRING) {
            throw new IllegalArgumentException("export name in " + url + " is over " + Protocol.MAX_STRING + " bytes");
        }
        int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
        String host = uri.getHost();
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1); // an IPv6 literal
        }
        Socket socket = new Socket();
        try {
            try {
                socket.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
            } catch (IOException e) {
                throw new IOException("cannot open " + url + ": " + e.getMessage(), e);
            }
            socket.setTcpNoDelay(true);
            socket.setKeepAlive(true);
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
            DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
            long[] sizeAndFlags;
            try {
                sizeAndFlags = handshake(url, export, in, out);
            } catch (EOFException e) {
                throw new IOException(url + ": the server closed the connection during the handshake", e);
            } catch (java.net.SocketTimeoutException e) {
                throw new IOException(url + ": the server did not finish the handshake in time", e);
            }
            socket.setSoTimeout(0);
            NbdClient client = new NbdClient(url, socket, in, out, sizeAndFlags[0], (int) sizeAndFlags[1]);
            client.reader.start();
            return client;
        } catch (IOException | RuntimeException | Error e) {
            closeQuietly(socket);
            throw e;
        }
    }

    /** The fixed newstyle handshake; the export's size and transmission flags. */
    private static long[] handshake(String url, String export, DataInputStream in, DataOutputStream out)
            throws IOException {
        if (in.readLong() != Protocol.NBDMAGIC) {
            throw new IOException(url + " is not an NBD server (bad greeting)");
        }
        long magic = in.readLong();
        if (magic == Protocol.OLDSTYLE_MAGIC) {
            throw new IOException(url + " speaks only the oldstyle NBD handshake, which this client does not");
        }
        if (magic != Protocol.IHAVEOPT) {
            throw new IOException(url + " is not a newstyle NBD server (bad greeting)");
        }
        int serverFlags = in.readUnsignedShort();
        boolean fixed = (serverFlags & Protocol.FLAG_FIXED_NEWSTYLE) != 0;
        boolean noZeroes = (serverFlags & Protocol.FLAG_NO_ZEROES) != 0;
        out.writeInt((fixed ? Protocol.FLAG_C_FIXED_NEWSTYLE : 0) | (noZeroes ? Protocol.FLAG_C_NO_ZEROES : 0));
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        if (!fixed) {
            // A server without the fixed handshake may drop the connection on an option it does not know.
            return exportName(url, export, name, noZeroes, in, out);
        }
        out.writeLong(Protocol.IHAVEOPT);
        out.writeInt(Protocol.OPT_GO);
        out.writeInt(4 + name.length + 2);
        out.writeInt(name.length);
        out.write(name);
        out.writeShort(0); // no information requests: NBD_INFO_EXPORT comes anyway
        out.flush();
        long size = -1;
        int flags = 0;
        while (true) {
            if (in.readLong() != Protocol.OPTION_REPLY_MAGIC) {
                throw new IOException(url + " sent a bad option reply (wrong magic)");
            }
            int option = in.readInt();
            int type = in.readInt();
            int length = in.readInt();
            if (option != Protocol.OPT_GO) {
                throw new IOException(url + " answered option " + option + " to NBD_OPT_GO");
            }
            if (length < 0 || length > MAX_OPTION_REPLY) {
                throw new IOException(url + " sent an option reply of " + Integer.toUnsignedString(length) + " bytes");
            }
            byte[] data = new byte[length];
            in.readFully(data);
            if (type == Protocol.REP_INFO) {
                ByteBuffer b = ByteBuffer.wrap(data);
                if (length >= 12 && b.getShort() == Protocol.INFO_EXPORT) {
                    size = b.getLong();
                    flags = Short.toUnsignedInt(b.getShort());
                }
            } else if (type == Protocol.REP_ACK) {
                return sizeAndFlags(url, size, flags);
            } else if (type == Protocol.REP_ERR_UNSUP) {
                return exportName(url, export, name, noZeroes, in, out);
            } else if (type < 0) { // an error reply: its data is a message for humans
                String message = new String(data, StandardCharsets.UTF_8).strip();
                throw new IOException(url + ": the server refused export '" + export + "': " + optionError(type)
                        + (message.isEmpty() ? "" : ": " + message));
            }
            // any other reply type is one this client did not ask for: ignored, as the spec says
        }
    }

    /** NBD_OPT_EXPORT_NAME: the server answers with the export's size and flags, or closes if it has none. */
    private static long[] exportName(
            String url, String export, byte[] name, boolean noZeroes, DataInputStream in, DataOutputStream out)
            throws IOException {
        out.writeLong(Protocol.IHAVEOPT);
        out.writeInt(Protocol.OPT_EXPORT_NAME);
        out.writeInt(name.length);
        out.write(name);
        out.flush();
        long size;
        int flags;
        try {
            size = in.readLong();
            flags = in.readUnsignedShort();
        } catch (EOFException e) {
            throw new IOException(
                    url + ": the server closed the connection on NBD_OPT_EXPORT_NAME (no export '" + export + "'?)", e);
        }
        if (!noZeroes) {
            in.skipNBytes(124);
        }
        return sizeAndFlags(url, size, flags);
    }

    private static long[] sizeAndFlags(String url, long size, int flags) throws IOException {
        if (size < 0) {
            throw new IOException(url + (size == -1 ? " did not say the export's size" : " sent a bad export size"));
        }
        return new long[] {size, (flags & Protocol.FLAG_HAS_FLAGS) == 0 ? 0 : flags};
    }

    /** The export's size in bytes. */
    public long size() {
        return size;
    }

    /** Whether the server refuses writes to this export. */
    public boolean readOnly() {
        return (flags & Protocol.FLAG_READ_ONLY) != 0;
    }

    /** Whether the server takes NBD_CMD_FLUSH (else {@link #flush()} does nothing). */
    public boolean canFlush() {
        return (flags & Protocol.FLAG_SEND_FLUSH) != 0;
    }

    /** Whether the server takes NBD_CMD_WRITE_ZEROES (else {@link #writeZeroes} writes zeros). */
    public boolean canWriteZeroes() {
        return (flags & Protocol.FLAG_SEND_WRITE_ZEROES) != 0;
    }

    /** Whether the server takes NBD_CMD_TRIM. */
    public boolean canTrim() {
        return (flags & Protocol.FLAG_SEND_TRIM) != 0;
    }

    /** Whether the server allows several connections to the export, consistent with each other. */
    public boolean canMultiConn() {
        return (flags & Protocol.FLAG_CAN_MULTI_CONN) != 0;
    }

    /** Writes {@code data[from, from + length)} at {@code offset}. */
    public void write(long offset, byte[] data, int from, int length) throws IOException {
        Objects.checkFromIndexSize(from, length, data.length);
        check(offset, length);
        transfer(Protocol.CMD_WRITE, offset, length, data, from, MAX_REQUEST, true);
    }

    /** Reads {@code length} bytes at {@code offset} into {@code dst[from, from + length)}. */
    public void read(long offset, byte[] dst, int from, int length) throws IOException {
        Objects.checkFromIndexSize(from, length, dst.length);
        check(offset, length);
        transfer(Protocol.CMD_READ, offset, length, dst, from, MAX_REQUEST, true);
    }

    /** Makes the range read as zeros: NBD_CMD_WRITE_ZEROES where the server has it, else writes of zeros. */
    public void writeZeroes(long offset, long length) throws IOException {
        check(offset, length);
        if (canWriteZeroes()) {
            transfer(Protocol.CMD_WRITE_ZEROES, offset, length, null, 0, MAX_REQUEST, false);
        } else if (length > 0) {
            byte[] zeros = new byte[(int) Math.min(ZERO_CHUNK, length)]; // only ever read: shared by the requests
            transfer(Protocol.CMD_WRITE, offset, length, zeros, 0, zeros.length, false);
        }
    }

    /** Makes every write completed so far durable (NBD_CMD_FLUSH); nothing where the server lacks it. */
    public void flush() throws IOException {
        if (canFlush()) {
            IOException e = await(send(Protocol.CMD_FLUSH, 0, 0, null, 0));
            if (e != null) {
                throw e;
            }
        }
    }

    private void check(long offset, long length) {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new IllegalArgumentException("range of " + length + " bytes at offset " + offset + " is outside "
                    + url + " (" + size + " bytes)");
        }
    }

    /**
     * Sends {@code [offset, offset + length)} as requests of at most {@code chunk} bytes, at most {@link
     * #WINDOW} in flight, and waits for all of them. With {@code advance}, each request's data is the next
     * part of {@code buf} from {@code from}; without, every request uses {@code buf} from {@code from}.
     */
    private void transfer(int type, long offset, long length, byte[] buf, int from, int chunk, boolean advance)
            throws IOException {
        ArrayDeque<Pending> window = new ArrayDeque<>();
        IOException first = null;
        try {
            for (long done = 0; done < length; ) {
                if (window.size() == WINDOW) {
                    first = await(window.poll());
                    if (first != null) {
                        break; // the rest would fail the same way, or write past a failed range
                    }
                }
                int n = (int) Math.min(chunk, length - done);
                window.add(send(type, offset + done, n, buf, advance ? from + (int) done : from));
                done += n;
            }
        } finally {
            // Every request sent is waited for, also when sending failed: a READ's data lands in buf.
            while (!window.isEmpty()) {
                IOException e = await(window.poll());
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Sends one request; its reply completes the returned request. */
    private Pending send(int type, long offset, int length, byte[] buf, int from) throws IOException {
        Pending p = new Pending(
                type, offset, length, type == Protocol.CMD_READ ? buf : null, from, new CompletableFuture<>());
        sending.lock();
        try {
            long handle = ++handles;
            synchronized (state) {
                if (failure != null) {
                    throw new IOException(describe(p) + " not sent: " + failure.getMessage(), failure);
                }
                pending.put(handle, p);
            }
            try {
                out.writeInt(Protocol.REQUEST_MAGIC);
                out.writeShort(0);
                out.writeShort(type);
                out.writeLong(handle);
                out.writeLong(offset);
                out.writeInt(length);
                if (type == Protocol.CMD_WRITE) {
                    out.write(buf, from, length);
                }
                out.flush();
            } catch (IOException e) {
                fail(new IOException("connection to " + url + " broke while sending: " + e.getMessage(), e));
            }
        } finally {
            sending.unlock();
        }
        return p;
    }

    /** Waits for a request's reply; the error it ended with, or null. Never longer than the connection lives. */
    private IOException await(Pending p) {
        int error;
        try {
            error = p.done().join(); // uninterruptible: a READ's reply may still land in the caller's array
        } catch (CompletionException e) {
            return new IOException(describe(p) + " failed: " + e.getCause().getMessage(), e.getCause());
        }
        if (error == 0) {
            return null;
        }
        return new IOException(describe(p) + " failed: " + errorName(error));
    }

    private String describe(Pending p) {
        String what = switch (p.type()) {
            case Protocol.CMD_READ -> "read";
            case Protocol.CMD_WRITE -> "write";
            case Protocol.CMD_FLUSH -> "flush";
            case Protocol.CMD_WRITE_ZEROES -> "write of zeroes";
            default -> "command " + p.type();
        };
        if (p.type() == Protocol.CMD_FLUSH) {
            return "NBD " + what + " on " + url;
        }
        return "NBD " + what + " of " + p.length() + " bytes at offset " + p.offset() + " on " + url;
    }

    /** The reader thread: takes replies until the connection ends, then fails whatever still waits. */
    private void readReplies() {
        Pending current = null;
        try {
            while (true) {
                int magic;
                try {
                    magic = in.readInt();
                } catch (EOFException e) {
                    throw new IOException("the server closed the connection", e);
                }
                if (magic != Protocol.SIMPLE_REPLY_MAGIC) {
                    throw new IOException("bad reply magic 0x" + Integer.toHexString(magic)
                            + (magic == Protocol.STRUCTURED_REPLY_MAGIC
                                    ? " (a structured reply, never asked for)"
                                    : ""));
                }
                int error = in.readInt();
                long handle = in.readLong();
                synchronized (state) {
                    current = pending.remove(handle);
                }
                if (current == null) {
                    throw new IOException("a reply to handle " + handle + ", which no request in flight has");
                }
                if (error == 0 && current.type() == Protocol.CMD_READ) {
                    in.readFully(current.dst(), current.from(), (int) current.length());
                }
                current.done().complete(error);
                current = null;
            }
        } catch (IOException e) {
            IOException broken = new IOException("connection to " + url + " lost: " + e.getMessage(), e);
            if (current != null) {
                current.done().completeExceptionally(broken);
            }
            fail(broken);
        } catch (RuntimeException | Error e) {
            IOException broken = new IOException("connection to " + url + " failed: " + e, e);
            if (current != null) {
                current.done().completeExceptionally(broken);
            }
            fail(broken);
            throw e;
        }
    }

    /** Ends the connection: this and every later call fails with {@code cause} (or an earlier failure). */
    private void fail(IOException cause) {
        List<Pending> waiting;
        IOException reason;
        synchronized (state) {
            if (failure == null) {
                failure = cause;
            }
            reason = closed ? new IOException("connection to " + url + " closed by the client", cause) : failure;
            waiting = new ArrayList<>(pending.values());
            pending.clear();
        }
        closeQuietly(socket);
        for (Pending p : waiting) {
            p.done().completeExceptionally(reason);
        }
    }

    /**
     * Says goodbye (NBD_CMD_DISC), lets the requests in flight finish (for a while), and closes the
     * connection. Later calls fail; closing again does nothing.
     */
    @Override
    public void close() {
        synchronized (state) {
            if (closed) {
                return;
            }
            closed = true;
            if (failure == null) {
                failure = new IOException("connection to " + url + " is closed");
            }
        }
        boolean locked = false;
        try {
            // A sender stuck on a full socket holds the lock; then there is no goodbye, only the close.
            locked = sending.tryLock(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS);
            if (locked && !socket.isClosed()) {
                out.writeInt(Protocol.REQUEST_MAGIC);
                out.writeShort(0);
                out.writeShort(Protocol.CMD_DISC);
                out.writeLong(++handles);
                out.writeLong(0);
                out.writeInt(0);
                out.flush();
                socket.shutdownOutput();
            }
        } catch (IOException e) {
            // the server is gone: nothing to say goodbye to
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (locked) {
                sending.unlock();
            }
        }
        if (Thread.currentThread() != reader) {
            try {
                // The server answers what is in flight, then closes: the reader sees the end and stops.
                reader.join(TimeUnit.SECONDS.toMillis(CLOSE_WAIT_SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        fail(new IOException("connection to " + url + " is closed"));
    }

    /** An NBD error number as its errno name, e.g. {@code EIO (5)}. */
    static String errorName(int error) {
        String name = switch (error) {
            case Protocol.EPERM -> "EPERM";
            case Protocol.EIO -> "EIO";
            case Protocol.ENOMEM -> "ENOMEM";
            case Protocol.EINVAL -> "EINVAL";
            case Protocol.ENOSPC -> "ENOSPC";
            case Protocol.EOVERFLOW -> "EOVERFLOW";
            case Protocol.ENOTSUP -> "ENOTSUP";
            case Protocol.ESHUTDOWN -> "ESHUTDOWN";
            default -> "error";
        };
        return name + " (" + Integer.toUnsignedString(error) + ")";
    }

    /** An option error reply type as its name, e.g. {@code unknown export (NBD_REP_ERR_UNKNOWN)}. */
    static String optionError(int type) {
        return switch (type) {
            case Protocol.REP_ERR_POLICY -> "forbidden by policy (NBD_REP_ERR_POLICY)";
            case Protocol.REP_ERR_INVALID -> "invalid request (NBD_REP_ERR_INVALID)";
            case Protocol.REP_ERR_PLATFORM -> "not supported on this platform (NBD_REP_ERR_PLATFORM)";
            case Protocol.REP_ERR_TLS_REQD -> "TLS required, which this client does not speak (NBD_REP_ERR_TLS_REQD)";
            case Protocol.REP_ERR_UNKNOWN -> "unknown export (NBD_REP_ERR_UNKNOWN)";
            case Protocol.REP_ERR_SHUTDOWN -> "server shutting down (NBD_REP_ERR_SHUTDOWN)";
            case Protocol.REP_ERR_BLOCK_SIZE_REQD -> "block size negotiation required (NBD_REP_ERR_BLOCK_SIZE_REQD)";
            case Protocol.REP_ERR_TOO_BIG -> "request too big (NBD_REP_ERR_TOO_BIG)";
            default -> "error reply 0x" + Integer.toHexString(type);
        };
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
