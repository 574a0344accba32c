package io.bighorn.bench;

import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.ReplicaServer;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The wire throughput check: 4 KiB random writes, then reads, with a fixed number in flight, from a
 * {@link WireReplicaEndpoint} to a {@link ReplicaServer} over loopback, both in this JVM.
 *
 * <p>Usage: {@code WireBench DIR [SIZE_MiB] [SECONDS] [IN_FLIGHT] [CONNECTIONS]}.
 */
public final class WireBench {
    private static final int BLOCK = 4096;

    private WireBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]).resolve("wire-replica");
        long size = (args.length > 1 ? Long.parseLong(args[1]) : 1024) << 20;
        double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 5;
        int inFlight = args.length > 3 ? Integer.parseInt(args[3]) : 32;
        int connections = args.length > 4 ? Integer.parseInt(args[4]) : WireReplicaEndpoint.DEFAULT_CONNECTIONS;
        String transport = args.length > 5 ? args[5] : "tcp";
        Files.createDirectories(dir.getParent());
        ClusterSecret secret = ClusterSecret.of("bench");
        try (Replica replica = Replica.create(dir, size);
                ReplicaServer server = ReplicaServer.start(
                        replica,
                        transport.equals("unix")
                                ? java.net.UnixDomainSocketAddress.of(dir.resolveSibling("wire-replica.sock"))
                                : new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                        secret);
                WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(server.url(), secret, connections);
                Arena arena = Arena.ofShared()) {
            BlockingQueue<MemorySegment> buffers = new ArrayBlockingQueue<>(inFlight);
            for (int i = 0; i < inFlight; i++) {
                MemorySegment b = arena.allocate(BLOCK, BLOCK);
                b.fill((byte) i);
                buffers.add(b);
            }
            System.out.printf(Locale.ROOT, "| op | in flight | connections | ops/s | MiB/s |%n|---|---|---|---|---|%n");
            for (boolean write : new boolean[] {true, false}) {
                run(endpoint, buffers, inFlight, size, seconds / 5, write); // warm-up
                double ops = run(endpoint, buffers, inFlight, size, seconds, write);
                System.out.printf(
                        Locale.ROOT,
                        "| 4 KiB random %s | %d | %d | %,.0f | %.1f |%n",
                        write ? "write" : "read",
                        inFlight,
                        connections,
                        ops,
                        ops * BLOCK / (1 << 20));
            }
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder())
                    .forEach(p -> p.toFile().delete());
        }
    }

    /** Keeps {@code inFlight} requests outstanding for {@code seconds}; returns completed ops per second. */
    private static double run(
            WireReplicaEndpoint endpoint,
            BlockingQueue<MemorySegment> buffers,
            int inFlight,
            long size,
            double seconds,
            boolean write)
            throws Exception {
        Semaphore window = new Semaphore(inFlight);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        SplittableRandom random = new SplittableRandom(42);
        long blocks = size / BLOCK;
        long done = 0;
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        while (System.nanoTime() < end && failure.get() == null) {
            window.acquire();
            MemorySegment buf = buffers.take();
            long offset = random.nextLong(blocks) * BLOCK;
            CompletableFuture<Void> f = write ? endpoint.write(1, offset, buf) : endpoint.read(offset, buf);
            var _ = f.whenComplete((r, e) -> {
                if (e != null) {
                    failure.compareAndSet(null, e);
                }
                buffers.add(buf);
                window.release();
            });
            done++;
        }
        window.acquire(inFlight);
        window.release(inFlight);
        if (failure.get() != null) {
            throw new IllegalStateException("request failed", failure.get());
        }
        return done / ((System.nanoTime() - start) / 1e9);
    }
}
