package io.bighorn.dataplane.blockdev;

/** An I/O request that lies outside the device or is not aligned as required; nothing was changed. */
public final class OutOfRangeException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public OutOfRangeException(String message) {
        super(message);
    }

    /** Checks {@code [offset, offset+length)} against a device of {@code size} bytes and an alignment. */
    public static void check(long offset, long length, long size, int alignment) {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new OutOfRangeException(
                    "I/O at offset " + offset + " length " + length + " is outside the device of " + size + " bytes");
        }
        if (offset % alignment != 0 || length % alignment != 0) {
            throw new OutOfRangeException(
                    "I/O at offset " + offset + " length " + length + " is not aligned to " + alignment + " bytes");
        }
    }
}
