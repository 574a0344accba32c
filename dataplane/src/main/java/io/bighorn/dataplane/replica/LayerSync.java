package io.bighorn.dataplane.replica;

import io.bighorn.common.BufferPool;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.BitSet;
import java.util.zip.CRC32C;

/**
 * The block-level pieces of a rebuild on one layer file: digests to compare two replicas' copies of a
 * layer, reading some of its blocks with their allocation, and writing them into another copy so that
 * data and holes both match.
 */
final class LayerSync {
    /** Bytes of digest per block: the first 16 bytes of its SHA-256; all zeros for a hole. */
    static final int DIGEST = 16;
    /** Native buffers for the chunks, reused: a fresh one per chunk would be zeroed and page-faulted in. */
    private static final BufferPool BUFFERS = new BufferPool(16L << 20);

    private LayerSync() {}

    /** The allocated blocks of {@code [offset, offset + blocks × 4 KiB)} as bits from the first block. */
    static BitSet allocated(NativeFile file, long offset, int blocks) throws IOException {
        BitSet bits = new BitSet(blocks);
        long end = offset + (long) blocks * Replica.BLOCK;
        Extents.forEach(file, offset, end, (from, to) -> {
            int a = (int) ((from - offset) / Replica.BLOCK);
            int b = (int) ((to - offset + Replica.BLOCK - 1) / Replica.BLOCK);
            bits.set(a, b);
        });
        return bits;
    }

    /** {@value #DIGEST} bytes per block: a digest of its data, or zeros where the layer has a hole. */
    static byte[] digests(NativeFile file, long offset, int blocks) throws IOException {
        byte[] out = new byte[blocks * DIGEST];
        BitSet allocated = allocated(file, offset, blocks);
        if (allocated.isEmpty()) {
            return out;
        }
        MessageDigest sha = sha256();
        try (BufferPool.Lease lease = BUFFERS.acquire((long) blocks * Replica.BLOCK)) {
            MemorySegment buf = lease.segment();
            forEachRun(allocated, (a, b) -> {
                MemorySegment part = buf.asSlice((long) a * Replica.BLOCK, (long) (b - a) * Replica.BLOCK);
                readFully(file, part, offset + (long) a * Replica.BLOCK);
                for (int i = a; i < b; i++) {
                    sha.update(
                            buf.asSlice((long) i * Replica.BLOCK, Replica.BLOCK).asByteBuffer());
                    System.arraycopy(sha.digest(), 0, out, i * DIGEST, DIGEST);
                }
            });
        }
        return out;
    }

    /** The {@code wanted} blocks of the range: which hold data, and that data (on the heap). */
    static LayerBlocks read(String name, NativeFile file, long offset, int blocks, BitSet wanted) throws IOException {
        try (BufferPool.Lease encoded = readEncoded(name, file, offset, blocks, wanted, BUFFERS)) {
            return LayerBlocks.decode(encoded.segment().toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /**
     * Reads the {@code wanted} blocks of the range that the layer holds into {@code dst} (block {@code i} at
     * {@code i} × 4 KiB) and returns which those were; the other blocks of {@code dst} are left as they are.
     * A local reader's path: no encoding, no checksum, and for a native {@code dst} no copy in user space.
     */
    static BitSet readInto(NativeFile file, long offset, int blocks, BitSet wanted, MemorySegment dst)
            throws IOException {
        BitSet allocated = allocated(file, offset, blocks);
        allocated.and(wanted);
        forEachRun(allocated, (a, b) -> {
            long n = (long) (b - a) * Replica.BLOCK;
            MemorySegment part = dst.asSlice((long) a * Replica.BLOCK, n);
            long at = offset + (long) a * Replica.BLOCK;
            if (part.isNative()) {
                readFully(file, part, at);
            } else {
                // the system call needs native memory: read through a pooled buffer
                try (BufferPool.Lease lease = BUFFERS.acquire(n)) {
                    MemorySegment buf = lease.segment().asSlice(0, n);
                    readFully(file, buf, at);
                    part.copyFrom(buf);
                }
            }
        });
        return allocated;
    }

    /**
     * The {@code wanted} blocks of the range, encoded ({@link LayerBlocks#decode} reads it), in a native buffer
     * from {@code pool}: the blocks are read straight into it and a server sends it as it is, so a rebuild's
     * source copies nothing in user space. The lease's segment is the encoded form, exactly.
     */
    static BufferPool.Lease readEncoded(
            String name, NativeFile file, long offset, int blocks, BitSet wanted, BufferPool pool) throws IOException {
        BitSet allocated = allocated(file, offset, blocks);
        allocated.and(wanted);
        byte[] head = LayerBlocks.header(name, offset, blocks, wanted, allocated);
        long dataBytes = (long) allocated.cardinality() * Replica.BLOCK;
        BufferPool.Lease lease = pool.acquire(head.length + dataBytes + 4);
        try {
            MemorySegment out = lease.segment();
            out.asSlice(0, head.length).copyFrom(MemorySegment.ofArray(head));
            long[] at = {head.length};
            forEachRun(allocated, (a, b) -> {
                long n = (long) (b - a) * Replica.BLOCK;
                readFully(file, out.asSlice(at[0], n), offset + (long) a * Replica.BLOCK);
                at[0] += n;
            });
            CRC32C crc = new CRC32C();
            crc.update(out.asSlice(0, at[0]).asByteBuffer());
            out.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), at[0], (int) crc.getValue());
            return lease;
        } catch (IOException | RuntimeException e) {
            lease.close();
            throw e;
        }
    }

    /** Writes {@code in}'s data and punches its holes, so the wanted blocks match the source's. */
    static void write(NativeFile file, LayerBlocks in) throws IOException {
        BitSet holes = (BitSet) in.wanted().clone();
        holes.andNot(in.allocated());
        forEachRun(
                holes,
                (a, b) -> file.punchHole(in.offset() + (long) a * Replica.BLOCK, (long) (b - a) * Replica.BLOCK));
        if (in.allocated().isEmpty()) {
            return;
        }
        if (in.data().isNative()) {
            writeRuns(file, in, in.data());
            return;
        }
        try (BufferPool.Lease lease = BUFFERS.acquire(in.dataBytes())) {
            MemorySegment buf = lease.segment();
            buf.copyFrom(in.data());
            writeRuns(file, in, buf);
        }
    }

    private static void writeRuns(NativeFile file, LayerBlocks in, MemorySegment data) throws IOException {
        long[] at = {0};
        forEachRun(in.allocated(), (a, b) -> {
            long n = (long) (b - a) * Replica.BLOCK;
            file.write(data.asSlice(at[0], n), in.offset() + (long) a * Replica.BLOCK);
            at[0] += n;
        });
    }

    @FunctionalInterface
    interface Run {
        void accept(int from, int to) throws IOException;
    }

    /** Calls {@code run} for each maximal run of set bits, in order. */
    static void forEachRun(BitSet bits, Run run) throws IOException {
        for (int a = bits.nextSetBit(0); a >= 0; ) {
            int b = bits.nextClearBit(a);
            run.accept(a, b);
            a = bits.nextSetBit(b);
        }
    }

    private static void readFully(NativeFile file, MemorySegment part, long at) throws IOException {
        long n = file.read(part, at);
        if (n < part.byteSize()) {
            part.asSlice(n).fill((byte) 0);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
