package io.bighorn.backup;

import java.io.IOException;

/** Where a restore writes: the new volume's replicas. Implementations are safe for concurrent writes. */
public interface RestoreSink {
    /** The volume's size in bytes. */
    long size();

    /** Writes {@code length} bytes of {@code data} at {@code offset}. */
    void write(long offset, byte[] data, int length) throws IOException;

    /** Makes {@code [offset, offset + length)} read as zeros: a block that an incremental restore drops. */
    void zero(long offset, long length) throws IOException;
}
