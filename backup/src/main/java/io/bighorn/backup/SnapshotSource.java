package io.bighorn.backup;

import java.io.IOException;
import java.time.Instant;

/** A snapshot of a volume, as a backup reads it. Implementations are safe for concurrent reads. */
public interface SnapshotSource extends AutoCloseable {
    /** The volume's size in bytes. */
    long size();

    String snapshot();

    Instant snapshotCreated();

    /** Whether {@code name} is a snapshot below this one in its chain. */
    boolean hasAncestor(String name);

    /**
     * Whether {@code [offset, offset + length)} may hold data, answered without reading; a source that
     * cannot tell says true. A range that cannot is a hole ({@link Read#HOLE}, or {@link Read#UNCHANGED}
     * since any ancestor).
     */
    default boolean mayHoldData(long offset, long length) {
        return true;
    }

    /** What {@link #read} found. */
    enum Read {
        /** {@code dst} holds the range's data as at the snapshot. */
        DATA,
        /** Nothing in the range was ever written: a hole, not stored in a backup. */
        HOLE,
        /** No snapshot above {@code since} changed the range; {@code dst} is undefined. */
        UNCHANGED
    }

    /**
     * Reads {@code [offset, offset + dst.length)} as it was at the snapshot; bytes past the volume's end read
     * as zeros. With {@code since} (an ancestor, see {@link #hasAncestor}), a range that no snapshot above it
     * wrote is {@link Read#UNCHANGED}.
     */
    Read read(long offset, byte[] dst, String since) throws IOException;

    @Override
    void close();
}
