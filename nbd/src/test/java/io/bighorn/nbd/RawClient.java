package io.bighorn.nbd;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A minimal NBD client speaking raw bytes, for protocol tests. Not thread-safe. */
final class RawClient implements AutoCloseable {
    final Socket socket;
    final DataInputStream in;
    final DataOutputStream out;
    boolean structured;
    long size;
    int transmissionFlags;

    /** One option reply. */
    @SuppressWarnings("ArrayRecordComponent") // a test value, compared by its parts
    record OptionReply(int option, int type, byte[] data) {}

    /** A reply: error, and the data of a successful READ or the descriptors of a BLOCK_STATUS. */
    @SuppressWarnings("ArrayRecordComponent") // a test value, compared by its parts
    record Reply(long handle, int error, byte[] data, int[] descriptors) {}

    RawClient(int port) throws IOException {
        socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(10_000);
        in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        out = new DataOutputStream(socket.getOutputStream());
    }

    /** Reads the greeting and sends client flags (fixed newstyle, no zeroes). */
    RawClient greet() throws IOException {
        if (in.readLong() != Protocol.NBDMAGIC || in.readLong() != Protocol.IHAVEOPT) {
            throw new IOException("bad greeting");
        }
        in.readUnsignedShort();
        out.writeInt(Protocol.FLAG_C_FIXED_NEWSTYLE | Protocol.FLAG_C_NO_ZEROES);
        return this;
    }

    void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(Protocol.IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    OptionReply readOptionReply() throws IOException {
        if (in.readLong() != Protocol.OPTION_REPLY_MAGIC) {
            throw new IOException("bad option reply magic");
        }
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new OptionReply(option, type, data);
    }

    /** Replies up to and including the first ACK or error. */
    List<OptionReply> option(int option, byte[] data) throws IOException {
        sendOption(option, data);
        List<OptionReply> replies = new ArrayList<>();
        while (true) {
            OptionReply r = readOptionReply();
            replies.add(r);
            if (r.type() == Protocol.REP_ACK || r.type() < 0) {
                return replies;
            }
        }
    }

    static byte[] infoData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    static byte[] metaData(String export, String... queries) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        int len = 4 + n.length + 4;
        for (String q : queries) {
            len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(len).putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** Negotiates (optionally structured replies and base:allocation) and enters transmission with GO. */
    RawClient go(String export, boolean structuredReplies, boolean baseAllocation) throws IOException {
        if (structuredReplies) {
            expectAck(option(Protocol.OPT_STRUCTURED_REPLY, new byte[0]));
            structured = true;
        }
        if (baseAllocation) {
            expectAck(option(Protocol.OPT_SET_META_CONTEXT, metaData(export, Protocol.BASE_ALLOCATION)));
        }
        List<OptionReply> replies = option(Protocol.OPT_GO, infoData(export, Protocol.INFO_BLOCK_SIZE));
        expectAck(replies);
        for (OptionReply r : replies) {
            ByteBuffer d = ByteBuffer.wrap(r.data());
            if (r.type() == Protocol.REP_INFO && d.getShort() == Protocol.INFO_EXPORT) {
                size = d.getLong();
                transmissionFlags = Short.toUnsignedInt(d.getShort());
            }
        }
        return this;
    }

    private static void expectAck(List<OptionReply> replies) throws IOException {
        if (replies.getLast().type() != Protocol.REP_ACK) {
            throw new IOException("option failed with reply type 0x"
                    + Integer.toHexString(replies.getLast().type()) + ": "
                    + new String(replies.getLast().data(), StandardCharsets.UTF_8));
        }
    }

    void send(int flags, int type, long handle, long offset, int length, byte[] payload) throws IOException {
        out.writeInt(Protocol.REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(handle);
        out.writeLong(offset);
        out.writeInt(length);
        if (payload != null) {
            out.write(payload);
        }
        out.flush();
    }

    /** Reads one reply; for simple READ replies {@code readLength} tells how much data follows a success. */
    Reply read(int readLength) throws IOException {
        int magic = in.readInt();
        if (magic == Protocol.SIMPLE_REPLY_MAGIC) {
            int error = in.readInt();
            long handle = in.readLong();
            byte[] data = new byte[error == 0 ? readLength : 0];
            in.readFully(data);
            return new Reply(handle, error, data, new int[0]);
        }
        if (magic != Protocol.STRUCTURED_REPLY_MAGIC) {
            throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
        }
        byte[] data = new byte[0];
        int[] descriptors = new int[0];
        int error = 0;
        long handle;
        while (true) {
            int flags = in.readUnsignedShort();
            int type = in.readUnsignedShort();
            handle = in.readLong();
            byte[] payload = new byte[in.readInt()];
            in.readFully(payload);
            ByteBuffer p = ByteBuffer.wrap(payload);
            switch (type) {
                case Protocol.REPLY_TYPE_OFFSET_DATA -> {
                    p.getLong();
                    data = new byte[p.remaining()];
                    p.get(data);
                }
                case Protocol.REPLY_TYPE_BLOCK_STATUS -> {
                    p.getInt();
                    descriptors = new int[p.remaining() / 4];
                    p.asIntBuffer().get(descriptors);
                }
                case Protocol.REPLY_TYPE_ERROR -> error = p.getInt();
                case Protocol.REPLY_TYPE_NONE -> {}
                default -> throw new IOException("unexpected chunk type " + type);
            }
            if ((flags & Protocol.REPLY_FLAG_DONE) != 0) {
                return new Reply(handle, error, data, descriptors);
            }
            if (in.readInt() != Protocol.STRUCTURED_REPLY_MAGIC) {
                throw new IOException("bad chunk magic");
            }
        }
    }

    Reply call(int flags, int type, long offset, int length, byte[] payload) throws IOException {
        send(flags, type, 7, offset, length, payload);
        return read(type == Protocol.CMD_READ ? length : 0);
    }

    /** True when the server closed the connection (end of stream) within the socket timeout. */
    boolean closedByServer() throws IOException {
        try {
            while (in.read() >= 0) {
                // drain whatever the server still sends
            }
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (java.net.SocketException e) {
            return true; // reset
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
