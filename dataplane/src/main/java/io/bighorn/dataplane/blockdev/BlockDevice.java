package io.bighorn.dataplane.blockdev;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A volume as a frontend sees it: byte-addressed, 512-byte granular I/O that many threads may issue at
 * once. Calls block until done; callers run each request on its own (virtual) thread. Implementations:
 * a local replica, the replicated engine.
 *
 * <p>Reads, writes, flushes, trims and write-zeroes also come asynchronously ({@code *Async}): the hot
 * path of a frontend, which then needs no thread per request. The defaults run the blocking call on a virtual
 * thread; the engine completes them straight from its replicas' replies. Their futures may complete on
 * any thread, including an I/O thread of the device: dependent stages must not block.
 *
 * <p>Buffers are native segments that any thread may access (from a shared, global or automatic arena):
 * an implementation may fill or drain them on another thread.
 *
 * <p>Errors: {@link OutOfRangeException} for a request outside the device or misaligned (nothing done),
 * {@link NoSpaceException} when the storage is full, any other {@link IOException} for a failed device.
 */
public interface BlockDevice extends AutoCloseable {
    /** Offsets and lengths are multiples of this. */
    int SECTOR = 512;

    long size();

    /** Fills {@code dst} with the bytes at {@code offset}. */
    void read(long offset, MemorySegment dst) throws IOException;

    /** Writes {@code src} at {@code offset}; with {@code fua} it is durable when this returns. */
    void write(long offset, MemorySegment src, boolean fua) throws IOException;

    /**
     * {@link #read} without blocking the caller: the future completes when {@code dst} is filled, or
     * exceptionally with the exception {@code read} would throw.
     */
    default CompletableFuture<Void> readAsync(long offset, MemorySegment dst) {
        return Async.run(() -> read(offset, dst));
    }

    /** {@link #write} without blocking the caller; see {@link #readAsync}. */
    default CompletableFuture<Void> writeAsync(long offset, MemorySegment src, boolean fua) {
        return Async.run(() -> write(offset, src, fua));
    }

    /** {@link #flush} without blocking the caller; see {@link #readAsync}. */
    default CompletableFuture<Void> flushAsync() {
        return Async.run(this::flush);
    }

    /** {@link #trim} without blocking the caller; see {@link #readAsync}. */
    default CompletableFuture<Void> trimAsync(long offset, long length) {
        return Async.run(() -> trim(offset, length));
    }

    /** {@link #writeZeroes} without blocking the caller; see {@link #readAsync}. */
    default CompletableFuture<Void> writeZeroesAsync(long offset, long length, boolean mayPunch) {
        return Async.run(() -> writeZeroes(offset, length, mayPunch));
    }

    /** Makes every write completed so far durable. */
    void flush() throws IOException;

    /** Discards the range; it reads as zeros afterwards. */
    void trim(long offset, long length) throws IOException;

    /** Makes the range read as zeros; {@code mayPunch} allows deallocating it. */
    void writeZeroes(long offset, long length, boolean mayPunch) throws IOException;

    /** Allocation of {@code [offset, offset+length)} as consecutive extents, in order, covering it. */
    List<Extent> extents(long offset, long length) throws IOException;

    @Override
    void close() throws IOException;

    /**
     * A range that holds data ({@code allocated}) or is a hole that reads as zeros.
     */
    record Extent(long offset, long length, boolean allocated) {}
}
