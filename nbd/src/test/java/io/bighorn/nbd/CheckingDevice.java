package io.bighorn.nbd;

import io.bighorn.dataplane.blockdev.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A device that shows the first {@code size} bytes of a larger one and records every call that reaches
 * outside them or is misaligned. The inner device would accept such calls (it is larger), so a violation
 * means the server's own checks let it through.
 */
final class CheckingDevice implements BlockDevice {
    private final BlockDevice inner;
    private final long size;
    final Queue<String> violations = new ConcurrentLinkedQueue<>();

    CheckingDevice(BlockDevice inner, long size) {
        this.inner = inner;
        this.size = size;
    }

    private void check(String op, long offset, long length) {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            violations.add(op + " at " + offset + " length " + length + " outside " + size);
        }
        if (offset % SECTOR != 0 || length % SECTOR != 0) {
            violations.add(op + " at " + offset + " length " + length + " misaligned");
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        check("read", offset, dst.byteSize());
        inner.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        check("write", offset, src.byteSize());
        inner.write(offset, src, fua);
    }

    @Override
    public void flush() throws IOException {
        inner.flush();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        check("trim", offset, length);
        inner.trim(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch) throws IOException {
        check("writeZeroes", offset, length);
        inner.writeZeroes(offset, length, mayPunch);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        check("extents", offset, length);
        return inner.extents(offset, length);
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }
}
