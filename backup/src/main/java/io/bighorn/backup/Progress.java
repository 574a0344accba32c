package io.bighorn.backup;

/** Told how far a long operation has got, in bytes; called from worker threads. */
@FunctionalInterface
public interface Progress {
    Progress NONE = (done, total) -> {};

    void update(long done, long total);
}
