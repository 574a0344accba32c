package io.bighorn.bench;

import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.LongAdder;

/**
 * The replica micro-benchmark: 4 KiB random writes and reads at 1 and 8 threads, into the page cache,
 * on a Bighorn replica and on a plain {@link FileChannel} over a sparse file, in the same run.
 *
 * <p>Usage: {@code ReplicaBench DIR [SIZE_MiB] [SECONDS]}. Prints a Markdown table with the ratios.
 */
public final class ReplicaBench {
    private static final int BLOCK = 4096;

    private ReplicaBench() {}

    interface Io {
        void write(long offset, int thread) throws IOException;

        void read(long offset, int thread) throws IOException;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long size = (args.length > 1 ? Long.parseLong(args[1]) : 1024) << 20;
        double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 5;
        Files.createDirectories(dir);
        Path file = dir.resolve("plain.img");
        Path replicaDir = dir.resolve("replica");
        Files.deleteIfExists(file);
        deleteTree(replicaDir);

        List<String> rows = new ArrayList<>();
        try (Arena arena = Arena.ofShared();
                FileChannel ch = FileChannel.open(
                        file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
                Replica replica = Replica.create(replicaDir, size)) {
            ch.truncate(size);
            ByteBuffer[] buffers = new ByteBuffer[8];
            MemorySegment[] segments = new MemorySegment[8];
            for (int t = 0; t < 8; t++) {
                segments[t] = arena.allocate(BLOCK, BLOCK);
                segments[t].fill((byte) (t + 1));
                buffers[t] = segments[t].asByteBuffer();
            }
            Io plain = channelIo(ch, buffers);
            Io bighorn = replicaIo(replica, segments);
            // warm up both (JIT, and allocate every block so reads hit data)
            fill(plain, size);
            fill(bighorn, size);
            for (String op : List.of("randwrite", "randread")) {
                for (int threads : List.of(1, 8)) {
                    double p = run(plain, op, threads, size, seconds);
                    double b = run(bighorn, op, threads, size, seconds);
                    rows.add(String.format(
                            Locale.ROOT, "| 4k %s | %d | %,.0f | %,.0f | %.2f× |", op, threads, b, p, b / p));
                }
            }
            // first writes: every cell starts on an empty sparse file/replica four times the size
            for (int threads : List.of(1, 8)) {
                double p = freshRun(dir, false, threads, 4 * size, seconds, arena);
                double b = freshRun(dir, true, threads, 4 * size, seconds, arena);
                rows.add(String.format(
                        Locale.ROOT,
                        "| 4k randwrite, first writes to a sparse %d GiB | %d | %,.0f | %,.0f | %.2f× |",
                        (4 * size) >> 30,
                        threads,
                        b,
                        p,
                        b / p));
            }
            System.out.println("| workload | threads | Bighorn replica IOPS | FileChannel IOPS | ratio |");
            System.out.println("|---|---|---|---|---|");
            rows.forEach(System.out::println);
            System.out.printf(
                    Locale.ROOT,
                    "%nindex RAM after the run: %,d bytes for %d MiB (%.1f KiB per GiB)%n",
                    replica.info().indexRamBytes(),
                    size >> 20,
                    replica.info().indexRamBytes() / 1024.0 / (size / (double) (1L << 30)));
        } finally {
            Files.deleteIfExists(file);
            deleteTree(replicaDir);
        }
    }

    private static Io replicaIo(Replica replica, MemorySegment[] segments) {
        return new Io() {
            @Override
            public void write(long offset, int thread) throws IOException {
                replica.write(1, offset, segments[thread]);
            }

            @Override
            public void read(long offset, int thread) throws IOException {
                replica.read(offset, segments[thread]);
            }
        };
    }

    private static Io channelIo(FileChannel ch, ByteBuffer[] buffers) {
        return new Io() {
            @Override
            public void write(long offset, int thread) throws IOException {
                ch.write(buffers[thread].clear(), offset);
            }

            @Override
            public void read(long offset, int thread) throws IOException {
                ch.read(buffers[thread].clear(), offset);
            }
        };
    }

    private static double freshRun(Path dir, boolean replica, int threads, long size, double seconds, Arena arena)
            throws Exception {
        Path file = dir.resolve("fresh.img");
        Path replicaDir = dir.resolve("fresh");
        Files.deleteIfExists(file);
        deleteTree(replicaDir);
        MemorySegment[] segments = new MemorySegment[threads];
        ByteBuffer[] buffers = new ByteBuffer[threads];
        for (int t = 0; t < threads; t++) {
            segments[t] = arena.allocate(BLOCK, BLOCK);
            segments[t].fill((byte) (t + 1));
            buffers[t] = segments[t].asByteBuffer();
        }
        try {
            if (replica) {
                try (Replica r = Replica.create(replicaDir, size)) {
                    return run(replicaIo(r, segments), "randwrite", threads, size, seconds);
                }
            }
            try (FileChannel ch = FileChannel.open(
                    file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ch.truncate(size);
                return run(channelIo(ch, buffers), "randwrite", threads, size, seconds);
            }
        } finally {
            Files.deleteIfExists(file);
            deleteTree(replicaDir);
        }
    }

    private static void fill(Io io, long size) throws IOException {
        for (long off = 0; off < size; off += BLOCK) {
            io.write(off, 0);
        }
    }

    private static double run(Io io, String op, int threads, long size, double seconds) throws Exception {
        LongAdder ops = new LongAdder();
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        List<Thread> workers = new ArrayList<>();
        Exception[] failure = new Exception[1];
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread w = Thread.ofPlatform().start(() -> {
                SplittableRandom random = new SplittableRandom(id * 7919L + op.hashCode());
                long blocks = size / BLOCK;
                try {
                    while (System.nanoTime() < deadline) {
                        for (int i = 0; i < 256; i++) {
                            long off = random.nextLong(blocks) * BLOCK;
                            if (op.equals("randwrite")) {
                                io.write(off, id);
                            } else {
                                io.read(off, id);
                            }
                        }
                        ops.add(256);
                    }
                } catch (IOException e) {
                    failure[0] = e;
                }
            });
            workers.add(w);
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure[0] != null) {
            throw failure[0];
        }
        return ops.sum() / ((System.nanoTime() - start) / 1e9);
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
