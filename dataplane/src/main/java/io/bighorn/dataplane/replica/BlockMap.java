package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.IntUnaryOperator;

/**
 * A compact map from 4 KiB block number to an int, in chunks of {@value #CHUNK} blocks (2 MiB).
 *
 * <p>Each chunk is one immutable {@code long[]}: a header word (format, bits per entry, palette size, run
 * count), the palette (two ints a word), then either {@value #CHUNK} <em>packed</em> entries of 1, 2, 4, 8
 * or 16 bits indexing the palette, or a list of <em>runs</em> (start and palette index, two a word). A
 * chunk whose blocks all hold one value has neither and is shared between chunks. Compaction (at open and
 * after a snapshot) picks the smaller of the two forms; a chunk that changes is re-encoded packed, where
 * changing one entry is a copy and a few bit operations. So a volume written in runs costs a few bytes
 * per 2 MiB, and a chunk of scattered 4 KiB writes in two layers about 100 bytes.
 *
 * <p>Concurrency: readers take a chunk with one volatile read and never lock. Writers copy the chunk,
 * change the copy and publish it with compare-and-set, retrying on a race, so concurrent updates of
 * different blocks in one chunk never lose each other. {@link #remapAll} and {@link #grow} must run while
 * no other thread uses the map.
 */
final class BlockMap {
    static final int CHUNK_SHIFT = 9;
    static final int CHUNK = 1 << CHUNK_SHIFT;
    private static final int MASK = CHUNK - 1;

    private final Map<Integer, long[]> uniforms = new ConcurrentHashMap<>();
    private volatile AtomicReferenceArray<long[]> chunks;
    private volatile long blocks;

    BlockMap(long blocks) {
        this.blocks = blocks;
        this.chunks = new AtomicReferenceArray<>(chunkCount(blocks));
        for (int i = 0; i < chunks.length(); i++) {
            chunks.set(i, uniform(0));
        }
    }

    long blocks() {
        return blocks;
    }

    int get(long block) {
        long[] c = chunks.get((int) (block >>> CHUNK_SHIFT));
        return valueAt(c, (int) (block & MASK));
    }

    /** Sets every block in {@code [from, to)} to {@code f(old value)}. */
    @SuppressWarnings("ReferenceEquality") // an unchanged chunk is returned as the same array: nothing to publish
    void update(long from, long to, IntUnaryOperator f) {
        long b = from;
        while (b < to) {
            int ci = (int) (b >>> CHUNK_SHIFT);
            int lo = (int) (b & MASK);
            int hi = (int) Math.min(CHUNK, to - ((long) ci << CHUNK_SHIFT));
            AtomicReferenceArray<long[]> cs = chunks;
            while (true) {
                long[] c = cs.get(ci);
                long[] n = updated(c, lo, hi, f);
                if (n == c || cs.compareAndSet(ci, c, n)) {
                    break;
                }
            }
            b = ((long) ci + 1) << CHUNK_SHIFT;
        }
    }

    void set(long from, long to, int value) {
        update(from, to, v -> value);
    }

    /** Replaces every value {@code v} by {@code f(v)} in O(chunks); callers hold off all other users. */
    void remapAll(IntUnaryOperator f) {
        AtomicReferenceArray<long[]> cs = chunks;
        for (int i = 0; i < cs.length(); i++) {
            long[] c = cs.get(i);
            int n = paletteSize(c);
            if (n == 1) {
                cs.set(i, uniform(f.applyAsInt(paletteAt(c, 0))));
            } else {
                long[] copy = c.clone();
                for (int p = 0; p < n; p++) {
                    setPalette(copy, p, f.applyAsInt(paletteAt(c, p)));
                }
                cs.set(i, copy);
            }
        }
    }

    /** Re-encodes every mixed chunk at its smallest size; safe beside readers and writers. */
    void compact() {
        AtomicReferenceArray<long[]> cs = chunks;
        int[] values = new int[CHUNK];
        for (int i = 0; i < cs.length(); i++) {
            long[] c = cs.get(i);
            if (paletteSize(c) > 1) {
                decode(c, values);
                cs.compareAndSet(i, c, encode(values, true));
            }
        }
    }

    /** Grows the map to {@code newBlocks}; new blocks hold 0. Callers hold off all other users. */
    void grow(long newBlocks) {
        if (newBlocks <= blocks) {
            return;
        }
        AtomicReferenceArray<long[]> old = chunks;
        AtomicReferenceArray<long[]> grown = new AtomicReferenceArray<>(chunkCount(newBlocks));
        for (int i = 0; i < grown.length(); i++) {
            grown.set(i, i < old.length() ? old.get(i) : uniform(0));
        }
        chunks = grown;
        blocks = newBlocks;
    }

    /** Receives a maximal run {@code [from, to)} of blocks that hold {@code value}. */
    @FunctionalInterface
    interface RunConsumer {
        void accept(long from, long to, int value) throws IOException;
    }

    /** Calls {@code consumer} for each maximal run of equal values in {@code [from, to)}, in order. */
    void forEachRun(long from, long to, RunConsumer consumer) throws IOException {
        Runs runs = new Runs(consumer);
        long b = from;
        while (b < to) {
            int ci = (int) (b >>> CHUNK_SHIFT);
            long base = (long) ci << CHUNK_SHIFT;
            int lo = (int) (b - base);
            int hi = (int) Math.min(CHUNK, to - base);
            long[] c = chunks.get(ci);
            if (paletteSize(c) == 1) {
                runs.at(b, paletteAt(c, 0));
            } else if (isRuns(c)) {
                int count = runCount(c);
                for (int i = lo, r = runIndexOf(c, lo); i < hi; r++) {
                    runs.at(base + i, paletteAt(c, runPalette(c, r)));
                    i = Math.min(r + 1 < count ? runStart(c, r + 1) : CHUNK, hi);
                }
            } else {
                for (int i = lo; i < hi; i++) {
                    runs.at(base + i, valueAt(c, i));
                }
            }
            b = base + hi;
        }
        runs.end(to);
    }

    /** Merges consecutive blocks of equal value into runs for a {@link RunConsumer}. */
    private static final class Runs {
        private final RunConsumer consumer;
        private long start;
        private int value;
        private boolean open;

        Runs(RunConsumer consumer) {
            this.consumer = consumer;
        }

        /** Block {@code b} (and the blocks after it, until the next call) holds {@code v}. */
        void at(long b, int v) throws IOException {
            if (!open) {
                start = b;
                value = v;
                open = true;
            } else if (v != value) {
                consumer.accept(start, b, value);
                start = b;
                value = v;
            }
        }

        void end(long to) throws IOException {
            if (open) {
                consumer.accept(start, to, value);
            }
        }
    }

    /** Bytes of heap this map holds, counting shared chunks once (compressed oops, 16-byte array headers). */
    long ramBytes() {
        AtomicReferenceArray<long[]> cs = chunks;
        IdentityHashMap<long[], Boolean> seen = new IdentityHashMap<>();
        long bytes = 16 + 16 + 4L * cs.length() + 64;
        for (int i = 0; i < cs.length(); i++) {
            long[] c = cs.get(i);
            if (seen.put(c, Boolean.TRUE) == null) {
                bytes += 16 + 8L * c.length;
            }
        }
        return bytes;
    }

    private static int chunkCount(long blocks) {
        long n = (blocks + CHUNK - 1) >>> CHUNK_SHIFT;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("volume too large for the block map: " + blocks + " blocks");
        }
        return (int) n;
    }

    // ---- chunk encoding ----

    private long[] uniform(int value) {
        return uniforms.computeIfAbsent(value, v -> new long[] {header(0, 1, 0, false), v & 0xffffffffL});
    }

    // header: bits 0-7 bits per entry, 8-31 palette size, 32-47 run count, bit 48 runs format
    private static long header(int bitsPerEntry, int paletteSize, int runs, boolean runsFormat) {
        return bitsPerEntry | ((long) paletteSize << 8) | ((long) runs << 32) | (runsFormat ? 1L << 48 : 0);
    }

    private static int bitsPerEntry(long[] c) {
        return (int) (c[0] & 0xff);
    }

    private static int paletteSize(long[] c) {
        return (int) ((c[0] >>> 8) & 0xffffff);
    }

    private static boolean isRuns(long[] c) {
        return (c[0] & (1L << 48)) != 0;
    }

    private static int runCount(long[] c) {
        return (int) ((c[0] >>> 32) & 0xffff);
    }

    private static int paletteAt(long[] c, int p) {
        return (int) (c[1 + (p >>> 1)] >>> ((p & 1) << 5));
    }

    private static void setPalette(long[] c, int p, int value) {
        int w = 1 + (p >>> 1);
        int shift = (p & 1) << 5;
        c[w] = (c[w] & ~(0xffffffffL << shift)) | ((value & 0xffffffffL) << shift);
    }

    private static int dataStart(int paletteSize) {
        return 1 + ((paletteSize + 1) >>> 1);
    }

    /** Run r as an int: start in the high 16 bits, palette index in the low 16. */
    private static int run(long[] c, int r) {
        return (int) (c[dataStart(paletteSize(c)) + (r >>> 1)] >>> ((r & 1) << 5));
    }

    private static int runStart(long[] c, int r) {
        return run(c, r) >>> 16;
    }

    private static int runPalette(long[] c, int r) {
        return run(c, r) & 0xffff;
    }

    /** The run holding entry i: the last run starting at or before it. */
    private static int runIndexOf(long[] c, int i) {
        int lo = 0;
        int hi = runCount(c) - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (runStart(c, mid) <= i) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    private static int indexAt(long[] c, int i) {
        if (isRuns(c)) {
            return runPalette(c, runIndexOf(c, i));
        }
        int bpe = bitsPerEntry(c);
        if (bpe == 0) {
            return 0;
        }
        int bit = i * bpe;
        long word = c[dataStart(paletteSize(c)) + (bit >>> 6)];
        return (int) ((word >>> (bit & 63)) & ((1L << bpe) - 1));
    }

    private static void setIndex(long[] c, int i, int p) {
        int bpe = bitsPerEntry(c);
        int bit = i * bpe;
        int w = dataStart(paletteSize(c)) + (bit >>> 6);
        long mask = ((1L << bpe) - 1) << (bit & 63);
        c[w] = (c[w] & ~mask) | (((long) p << (bit & 63)) & mask);
    }

    private static int valueAt(long[] c, int i) {
        return paletteAt(c, indexAt(c, i));
    }

    private static int paletteIndexOf(long[] c, int value) {
        int n = paletteSize(c);
        for (int p = 0; p < n; p++) {
            if (paletteAt(c, p) == value) {
                return p;
            }
        }
        return -1;
    }

    /** The chunk with {@code f} applied to entries {@code [lo, hi)}; {@code c} itself when nothing changes. */
    private long[] updated(long[] c, int lo, int hi, IntUnaryOperator f) {
        int n = paletteSize(c);
        if (lo == 0 && hi == CHUNK && n == 1) {
            int v = paletteAt(c, 0);
            int nv = f.applyAsInt(v);
            return nv == v ? c : uniform(nv);
        }
        long[] copy = null;
        for (int i = lo; i < hi; i++) {
            int p = indexAt(c, i);
            int v = paletteAt(c, p);
            int nv = f.applyAsInt(v);
            if (nv == v) {
                continue;
            }
            int np = paletteIndexOf(c, nv);
            if (np < 0 || bitsPerEntry(c) == 0 || isRuns(c)) {
                return reencoded(c, lo, hi, f);
            }
            if (copy == null) {
                copy = c.clone();
            }
            setIndex(copy, i, np);
        }
        return copy == null ? c : collapsed(copy);
    }

    /** A packed two-value chunk whose entries all point at one palette slot becomes uniform. */
    private long[] collapsed(long[] c) {
        if (bitsPerEntry(c) != 1) {
            return c;
        }
        int start = dataStart(paletteSize(c));
        long first = c[start];
        if (first != 0 && first != -1L) {
            return c;
        }
        for (int w = start + 1; w < c.length; w++) {
            if (c[w] != first) {
                return c;
            }
        }
        return uniform(paletteAt(c, first == 0 ? 0 : 1));
    }

    private long[] reencoded(long[] c, int lo, int hi, IntUnaryOperator f) {
        int[] values = new int[CHUNK];
        decode(c, values);
        for (int i = lo; i < hi; i++) {
            values[i] = f.applyAsInt(values[i]);
        }
        return encode(values, false);
    }

    private static void decode(long[] c, int[] values) {
        if (paletteSize(c) == 1) {
            Arrays.fill(values, paletteAt(c, 0));
        } else if (isRuns(c)) {
            int runs = runCount(c);
            for (int r = 0; r < runs; r++) {
                int end = r + 1 < runs ? runStart(c, r + 1) : CHUNK;
                Arrays.fill(values, runStart(c, r), end, paletteAt(c, runPalette(c, r)));
            }
        } else {
            for (int i = 0; i < CHUNK; i++) {
                values[i] = valueAt(c, i);
            }
        }
    }

    /** Encodes a chunk packed, or as runs when {@code allowRuns} and that is smaller. */
    private long[] encode(int[] values, boolean allowRuns) {
        int[] palette = new int[8];
        int n = 0;
        Map<Integer, Integer> big = null;
        int[] indices = new int[CHUNK];
        int runs = 0;
        for (int i = 0; i < CHUNK; i++) {
            int v = values[i];
            if (i == 0 || v != values[i - 1]) {
                runs++;
            }
            int p = -1;
            if (big != null) {
                Integer found = big.get(v);
                p = found == null ? -1 : found;
            } else {
                for (int q = 0; q < n; q++) {
                    if (palette[q] == v) {
                        p = q;
                        break;
                    }
                }
            }
            if (p < 0) {
                p = n++;
                if (n > palette.length) {
                    palette = Arrays.copyOf(palette, palette.length * 2);
                }
                palette[p] = v;
                if (big != null) {
                    big.put(v, p);
                } else if (n > 16) {
                    big = new HashMap<>();
                    for (int q = 0; q < n; q++) {
                        big.put(palette[q], q);
                    }
                }
            }
            indices[i] = p;
        }
        if (n == 1) {
            return uniform(palette[0]);
        }
        int bpe = n <= 2 ? 1 : n <= 4 ? 2 : n <= 16 ? 4 : n <= 256 ? 8 : 16;
        int packedWords = (CHUNK * bpe) >>> 6;
        int runWords = (runs + 1) >>> 1;
        boolean asRuns = allowRuns && runWords < packedWords;
        long[] c = new long[dataStart(n) + (asRuns ? runWords : packedWords)];
        c[0] = header(bpe, n, asRuns ? runs : 0, asRuns);
        for (int p = 0; p < n; p++) {
            setPalette(c, p, palette[p]);
        }
        if (asRuns) {
            int r = 0;
            int base = dataStart(n);
            for (int i = 0; i < CHUNK; i++) {
                if (i == 0 || indices[i] != indices[i - 1]) {
                    long run = ((long) i << 16 | indices[i]) & 0xffffffffL;
                    c[base + (r >>> 1)] |= run << ((r & 1) << 5);
                    r++;
                }
            }
        } else {
            for (int i = 0; i < CHUNK; i++) {
                setIndex(c, i, indices[i]);
            }
        }
        return c;
    }
}
