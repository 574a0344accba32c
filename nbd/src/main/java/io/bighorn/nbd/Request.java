package io.bighorn.nbd;

import java.nio.ByteBuffer;

/**
 * One transmission request header. {@code offset} is the wire's unsigned 64 bits (negative here when at or
 * above 2^63, which no device reaches); {@code length} is the unsigned 32 bits as a long.
 */
record Request(int flags, int type, long handle, long offset, long length) {

    /** Why a request is refused before the device sees it: the NBD error and a message for the client. */
    record Rejection(int errno, String message) {}

    static Request decode(ByteBuffer header) throws ProtocolException {
        int magic = header.getInt();
        if (magic != Protocol.REQUEST_MAGIC) {
            throw new ProtocolException("bad request magic 0x" + Integer.toHexString(magic));
        }
        int flags = Short.toUnsignedInt(header.getShort());
        int type = Short.toUnsignedInt(header.getShort());
        long handle = header.getLong();
        long offset = header.getLong();
        long length = Integer.toUnsignedLong(header.getInt());
        return new Request(flags, type, handle, offset, length);
    }

    boolean has(int flag) {
        return (flags & flag) != 0;
    }

    /** Bytes of payload that follow this header on the wire. */
    long payload() {
        return type == Protocol.CMD_WRITE ? length : 0;
    }

    /** True when a WRITE's payload is too large to read or skip; the session must end after the error. */
    boolean oversizedWrite() {
        return type == Protocol.CMD_WRITE && length > Protocol.MAX_PAYLOAD;
    }

    /**
     * Checks the request against the session (all but NBD_CMD_DISC): null when it may go to the device.
     * Writes past the end get ENOSPC as the spec advises; any other range or alignment problem EINVAL.
     */
    Rejection check(long size, boolean structured, boolean baseAllocation) {
        int allowed = Protocol.CMD_FLAG_FUA;
        switch (type) {
            case Protocol.CMD_READ -> allowed |= structured ? Protocol.CMD_FLAG_DF : 0;
            case Protocol.CMD_WRITE_ZEROES -> allowed |= Protocol.CMD_FLAG_NO_HOLE;
            case Protocol.CMD_BLOCK_STATUS -> allowed |= Protocol.CMD_FLAG_REQ_ONE;
            case Protocol.CMD_WRITE, Protocol.CMD_FLUSH, Protocol.CMD_TRIM, Protocol.CMD_CACHE -> {}
            default -> {
                return new Rejection(Protocol.EINVAL, "unknown command " + type);
            }
        }
        if ((flags & ~allowed) != 0) {
            return new Rejection(
                    Protocol.EINVAL,
                    "flags 0x" + Integer.toHexString(flags & ~allowed) + " are not valid for command " + type);
        }
        if (type == Protocol.CMD_FLUSH) {
            return null;
        }
        if ((type == Protocol.CMD_READ || type == Protocol.CMD_WRITE) && length > Protocol.MAX_PAYLOAD) {
            return new Rejection(
                    Protocol.EINVAL, "length " + length + " is over the maximum payload " + Protocol.MAX_PAYLOAD);
        }
        if (offset < 0 || offset > size || length > size - offset) {
            boolean writes = type == Protocol.CMD_WRITE || type == Protocol.CMD_WRITE_ZEROES;
            return new Rejection(
                    writes ? Protocol.ENOSPC : Protocol.EINVAL,
                    "offset " + Long.toUnsignedString(offset) + " length " + length + " is past the end (" + size
                            + " bytes)");
        }
        if (offset % Protocol.MIN_BLOCK != 0 || length % Protocol.MIN_BLOCK != 0) {
            return new Rejection(
                    Protocol.EINVAL,
                    "offset " + offset + " length " + length + " is not aligned to " + Protocol.MIN_BLOCK);
        }
        if (type == Protocol.CMD_BLOCK_STATUS) {
            if (!baseAllocation) {
                return new Rejection(Protocol.EINVAL, "no metadata context was negotiated");
            }
            if (length == 0) {
                return new Rejection(Protocol.EINVAL, "block status of an empty range");
            }
        }
        return null;
    }
}
