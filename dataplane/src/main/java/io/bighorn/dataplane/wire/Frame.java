package io.bighorn.dataplane.wire;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ReadableByteChannel;

/**
 * One frame header, and the only code that knows its layout. Every message, in both directions, is a
 * 48-byte big-endian header followed by {@code payloadLength} bytes:
 *
 * <pre>
 *  off size field
 *    0  u32 magic          0x4248524E ("BHRN")
 *    4  u16 version        {@link #VERSION}; a peer speaking another version is disconnected
 *    6  u8  op             {@link Op} code; replies carry the request's op
 *    7  u8  status         {@link Status} code; 0 in requests
 *    8  u64 id             request id, echoed by the reply (replies may come in any order)
 *   16  u64 offset         byte offset (read, write, trim, write-zeroes, extents)
 *   24  u64 length         byte length (read, trim, write-zeroes, extents) or new size (expand)
 *   32  u64 epoch          the engine's epoch on mutating ops; the replica's epoch on a STALE_EPOCH reply
 *   40  u32 payloadLength  bytes that follow: write/read data, JSON, handshake bytes, error text
 *   44  u32 reserved       0
 * </pre>
 *
 * A header is checked as a whole ({@link #decode}) before anything is allocated for its payload.
 */
record Frame(Op op, Status status, long id, long offset, long length, long epoch, int payloadLength) {
    static final int MAGIC = 0x4248524E;
    static final short VERSION = 1;
    static final int HEADER = 48;
    /** The largest payload either side accepts: one 32 MiB read or write. */
    static final int MAX_PAYLOAD = 32 << 20;

    Frame {
        if (payloadLength < 0 || payloadLength > MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload of " + payloadLength + " bytes exceeds " + MAX_PAYLOAD);
        }
    }

    static Frame request(Op op, long id, long offset, long length, long epoch, int payloadLength) {
        return new Frame(op, Status.OK, id, offset, length, epoch, payloadLength);
    }

    /** A reply to {@code this} request. */
    Frame reply(Status status, long epoch, int payloadLength) {
        return new Frame(op, status, id, offset, length, epoch, payloadLength);
    }

    /** Writes the header at {@code buf}'s position, advancing it. */
    void encode(ByteBuffer buf) {
        buf.order(ByteOrder.BIG_ENDIAN)
                .putInt(MAGIC)
                .putShort(VERSION)
                .put(op.code())
                .put(status.code())
                .putLong(id)
                .putLong(offset)
                .putLong(length)
                .putLong(epoch)
                .putInt(payloadLength)
                .putInt(0);
    }

    /** A header ready to send: a fresh heap buffer, flipped. */
    ByteBuffer encode() {
        ByteBuffer buf = ByteBuffer.allocate(HEADER);
        encode(buf);
        return buf.flip();
    }

    /**
     * Reads a header from {@code buf}'s next {@value #HEADER} bytes, refusing a wrong magic or version, an
     * unknown op or status, and a payload above {@link #MAX_PAYLOAD}.
     */
    static Frame decode(ByteBuffer buf) throws ProtocolException {
        if (buf.remaining() < HEADER) {
            throw new ProtocolException("truncated header: " + buf.remaining() + " of " + HEADER + " bytes");
        }
        buf.order(ByteOrder.BIG_ENDIAN);
        int magic = buf.getInt();
        if (magic != MAGIC) {
            throw new ProtocolException(String.format("bad magic 0x%08x: not a Bighorn replica peer", magic));
        }
        short version = buf.getShort();
        if (version != VERSION) {
            throw new ProtocolException(
                    "protocol version " + version + " is not supported (this side speaks " + VERSION + ")");
        }
        Op op = Op.of(buf.get());
        Status status = Status.of(buf.get());
        long id = buf.getLong();
        long offset = buf.getLong();
        long length = buf.getLong();
        long epoch = buf.getLong();
        int payload = buf.getInt();
        buf.getInt();
        if (payload < 0 || payload > MAX_PAYLOAD) {
            throw new ProtocolException(
                    "payload of " + Integer.toUnsignedString(payload) + " bytes exceeds the limit of " + MAX_PAYLOAD);
        }
        return new Frame(op, status, id, offset, length, epoch, payload);
    }

    /** Reads exactly one header from {@code in} into {@code scratch} (reused) and decodes it. */
    static Frame read(ReadableByteChannel in, ByteBuffer scratch) throws IOException {
        scratch.clear().limit(HEADER);
        readFully(in, scratch);
        return decode(scratch.flip());
    }

    /** Fills {@code buf} from {@code in}; end of stream midway is an {@link EOFException}. */
    static void readFully(ReadableByteChannel in, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (in.read(buf) < 0) {
                throw new EOFException("connection closed by the peer");
            }
        }
    }

    /** Writes every buffer in full, in order. */
    static void writeFully(GatheringByteChannel out, ByteBuffer... bufs) throws IOException {
        ByteBuffer last = bufs[bufs.length - 1];
        while (last.hasRemaining() || bufs[0].hasRemaining()) {
            out.write(bufs);
        }
    }
}
