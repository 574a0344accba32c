package io.bighorn.dataplane.replica;

import io.bighorn.dataplane.blockdev.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** A local replica used directly as a block device, writing with one epoch. Closing it closes the replica. */
public final class ReplicaDevice implements BlockDevice {
    private final Replica replica;
    private final long epoch;

    public ReplicaDevice(Replica replica, long epoch) throws IOException {
        this.replica = replica;
        this.epoch = epoch;
        replica.acceptEpoch(epoch);
    }

    public Replica replica() {
        return replica;
    }

    @Override
    public long size() {
        return replica.size();
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        replica.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        replica.write(epoch, offset, src);
        if (fua) {
            replica.flush();
        }
    }

    @Override
    public void flush() throws IOException {
        replica.flush();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        replica.trim(epoch, offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch) throws IOException {
        replica.writeZeroes(epoch, offset, length);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        return replica.extents(offset, length);
    }

    @Override
    public void close() throws IOException {
        replica.close();
    }
}
