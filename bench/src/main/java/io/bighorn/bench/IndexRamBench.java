package io.bighorn.bench;

import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Measures the block index's RAM per GiB for volumes with a handful of layers, written in several
 * patterns, and for a chain of a thousand layers. Usage: {@code IndexRamBench DIR [SIZE_MiB]}.
 */
public final class IndexRamBench {
    private static final int BLOCK = 4096;

    private IndexRamBench() {}

    @FunctionalInterface
    interface Pattern {
        void layer(Replica r, int layer, SplittableRandom random, MemorySegment buf) throws IOException;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long size = (args.length > 1 ? Long.parseLong(args[1]) : 1024) << 20;
        Files.createDirectories(dir);
        System.out.println("| volume and layers | index RAM per GiB |");
        System.out.println("|---|---|");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1 << 20, BLOCK);
            buf.fill((byte) 1);
            measure(dir, size, "fully written base, 1 layer", 1, buf, (r, l, rnd, b) -> fill(r, size, b));
            measure(
                    dir,
                    size,
                    "fully written base + 4 snapshots of 1 MiB extents over 10 % each",
                    5,
                    buf,
                    baseThenExtents(size, 1 << 20));
            measure(
                    dir,
                    size,
                    "fully written base + 4 snapshots of 64 KiB extents over 10 % each",
                    5,
                    buf,
                    baseThenExtents(size, 64 << 10));
            measure(
                    dir,
                    size,
                    "5 layers of scattered 4 KiB writes over 10 % each (worst case)",
                    5,
                    buf,
                    (r, l, rnd, b) -> extents(r, size, rnd, b, BLOCK, 0.10));
            thousandLayers(dir, size, buf);
        }
    }

    private static Pattern baseThenExtents(long size, int extent) {
        return (r, l, rnd, b) -> {
            if (l == 0) {
                fill(r, size, b);
            } else {
                extents(r, size, rnd, b, extent, 0.10);
            }
        };
    }

    private static void measure(Path dir, long size, String label, int layers, MemorySegment buf, Pattern pattern)
            throws IOException {
        Path rd = dir.resolve("ram");
        ReplicaBench.deleteTree(rd);
        SplittableRandom random = new SplittableRandom(42);
        try (Replica r = Replica.create(rd, size)) {
            for (int l = 0; l < layers; l++) {
                pattern.layer(r, l, random, buf);
                if (l + 1 < layers) {
                    r.snapshot("s" + l, true, Map.of());
                }
            }
        }
        // reopen: the index is rebuilt from the files' extents, as after a restart
        try (Replica r = Replica.open(rd)) {
            print(label, r.info().indexRamBytes(), size);
        }
        ReplicaBench.deleteTree(rd);
    }

    private static void thousandLayers(Path dir, long size, MemorySegment buf) throws IOException {
        Path rd = dir.resolve("ram");
        ReplicaBench.deleteTree(rd);
        SplittableRandom random = new SplittableRandom(7);
        try (Replica r = Replica.create(rd, size)) {
            fill(r, size, buf);
            for (int l = 0; l < 1000; l++) {
                r.snapshot("s" + l, true, Map.of());
                r.write(1, random.nextLong(size / (1 << 20)) << 20, buf);
            }
        }
        try (Replica r = Replica.open(rd)) {
            print(
                    "fully written base + 1000 snapshots of one 1 MiB write each",
                    r.info().indexRamBytes(),
                    size);
        }
        ReplicaBench.deleteTree(rd);
    }

    private static void print(String label, long bytes, long size) {
        System.out.printf(Locale.ROOT, "| %s | %.1f KiB |%n", label, bytes / 1024.0 / (size / (double) (1L << 30)));
    }

    private static void fill(Replica r, long size, MemorySegment buf) throws IOException {
        for (long off = 0; off < size; off += buf.byteSize()) {
            r.write(1, off, buf.asSlice(0, Math.min(buf.byteSize(), size - off)));
        }
    }

    private static void extents(
            Replica r, long size, SplittableRandom random, MemorySegment buf, int extent, double fraction)
            throws IOException {
        long count = (long) (size * fraction / extent);
        for (long i = 0; i < count; i++) {
            long off = random.nextLong(size / extent) * extent;
            r.write(1, off, buf.asSlice(0, extent));
        }
    }
}
