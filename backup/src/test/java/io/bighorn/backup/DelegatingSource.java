package io.bighorn.backup;

import java.io.IOException;
import java.time.Instant;

/** A snapshot source that passes every call on; tests override the calls they want to disturb. */
class DelegatingSource implements SnapshotSource {
    private final SnapshotSource in;

    DelegatingSource(SnapshotSource in) {
        this.in = in;
    }

    @Override
    public long size() {
        return in.size();
    }

    @Override
    public String snapshot() {
        return in.snapshot();
    }

    @Override
    public Instant snapshotCreated() {
        return in.snapshotCreated();
    }

    @Override
    public boolean hasAncestor(String name) {
        return in.hasAncestor(name);
    }

    @Override
    public boolean mayHoldData(long offset, long length) {
        return in.mayHoldData(offset, length);
    }

    @Override
    public Read read(long offset, byte[] dst, String since) throws IOException {
        return in.read(offset, dst, since);
    }

    @Override
    public void close() {
        in.close();
    }
}
