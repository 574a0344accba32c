package io.bighorn.nbd;

import io.bighorn.dataplane.blockdev.BlockDevice.Extent;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/** Encoding of transmission replies: simple replies and structured reply chunks. */
final class Replies {
    private Replies() {}

    /** At most this many block status descriptors per reply; the client asks again for the rest. */
    static final int MAX_DESCRIPTORS = 8192;

    static final int SIMPLE_HEADER = 16;
    static final int CHUNK_HEADER = 20;

    static byte[] simple(int error, long handle) {
        return ByteBuffer.allocate(SIMPLE_HEADER)
                .putInt(Protocol.SIMPLE_REPLY_MAGIC)
                .putInt(error)
                .putLong(handle)
                .array();
    }

    static ByteBuffer chunkHeader(ByteBuffer b, int flags, int type, long handle, int length) {
        return b.putInt(Protocol.STRUCTURED_REPLY_MAGIC)
                .putShort((short) flags)
                .putShort((short) type)
                .putLong(handle)
                .putInt(length);
    }

    /** The header and offset of a final NBD_REPLY_TYPE_OFFSET_DATA chunk; {@code length} data bytes follow. */
    static byte[] offsetDataHeader(long handle, long offset, int length) {
        ByteBuffer b = ByteBuffer.allocate(CHUNK_HEADER + 8);
        chunkHeader(b, Protocol.REPLY_FLAG_DONE, Protocol.REPLY_TYPE_OFFSET_DATA, handle, 8 + length);
        return b.putLong(offset).array();
    }

    /** A final NBD_REPLY_TYPE_NONE chunk. */
    static byte[] done(long handle) {
        ByteBuffer b = ByteBuffer.allocate(CHUNK_HEADER);
        return chunkHeader(b, Protocol.REPLY_FLAG_DONE, Protocol.REPLY_TYPE_NONE, handle, 0)
                .array();
    }

    /** A final NBD_REPLY_TYPE_ERROR chunk with a message for humans. */
    static byte[] error(long handle, int errno, String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        if (m.length > Protocol.MAX_STRING) {
            m = Arrays.copyOf(m, Protocol.MAX_STRING);
        }
        ByteBuffer b = ByteBuffer.allocate(CHUNK_HEADER + 6 + m.length);
        chunkHeader(b, Protocol.REPLY_FLAG_DONE, Protocol.REPLY_TYPE_ERROR, handle, 6 + m.length);
        return b.putInt(errno).putShort((short) m.length).put(m).array();
    }

    /**
     * A final NBD_REPLY_TYPE_BLOCK_STATUS chunk for {@code base:allocation}: allocated extents have status 0,
     * holes NBD_STATE_HOLE|NBD_STATE_ZERO. With {@code one} (NBD_CMD_FLAG_REQ_ONE) only the first extent.
     * Extents must be consecutive, start at the request's offset and lie inside it.
     */
    static byte[] blockStatus(long handle, int contextId, List<Extent> extents, boolean one) {
        int n = Math.min(extents.size(), one ? 1 : MAX_DESCRIPTORS);
        if (n == 0) {
            throw new IllegalArgumentException("block status needs at least one extent");
        }
        ByteBuffer b = ByteBuffer.allocate(CHUNK_HEADER + 4 + 8 * n);
        chunkHeader(b, Protocol.REPLY_FLAG_DONE, Protocol.REPLY_TYPE_BLOCK_STATUS, handle, 4 + 8 * n);
        b.putInt(contextId);
        for (int i = 0; i < n; i++) {
            Extent e = extents.get(i);
            b.putInt((int) e.length());
            b.putInt(e.allocated() ? 0 : Protocol.STATE_HOLE | Protocol.STATE_ZERO);
        }
        return b.array();
    }
}
