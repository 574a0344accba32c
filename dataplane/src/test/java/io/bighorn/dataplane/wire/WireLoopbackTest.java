package io.bighorn.dataplane.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.replica.SnapshotException;
import io.bighorn.dataplane.replica.SnapshotInfo;
import io.bighorn.dataplane.replica.StaleEpochException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real replica behind a real server on loopback, driven by the wire client. */
class WireLoopbackTest {
    private static final long SIZE = 64L << 20;
    private static final ClusterSecret SECRET = ClusterSecret.of("test-secret");

    @TempDir
    Path tmp;

    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    /** Reads at this offset wait for {@link #release} in the server; other requests run freely. */
    private static final long SLOW = 60L << 20;
    /**
     * The size of the slow reads: above {@link RequestHandler#INLINE_MAX}, so that each runs on its own
     * thread. A small read runs on its connection's reader, and holding it up holds up the connection.
     */
    private static final int SLOW_READ = 2 * RequestHandler.INLINE_MAX;

    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicInteger slowArrived = new AtomicInteger();
    /** While set, every read waits for it in the server. */
    private volatile CountDownLatch gate;

    private Replica replica;
    private ReplicaServer server;
    private WireReplicaEndpoint endpoint;

    @BeforeEach
    void setUp() throws Exception {
        replica = Replica.create(tmp.resolve("r"), SIZE);
        server = ReplicaServer.start(replica, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), SECRET, f -> {
            CountDownLatch g = gate;
            if (g != null && f.op() == Op.READ) {
                g.await();
            }
            if (f.op() == Op.READ && f.offset() == SLOW) {
                slowArrived.incrementAndGet();
                release.await();
            }
        });
        endpoint = WireReplicaEndpoint.connect(server.url(), SECRET);
    }

    @AfterEach
    void tearDown() throws Exception {
        release.countDown();
        CountDownLatch g = gate;
        if (g != null) {
            g.countDown();
        }
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        endpoint.close();
        server.close();
        replica.close();
        arena.close();
    }

    private MemorySegment random(long size, long seed) {
        byte[] bytes = new byte[(int) size];
        new Random(seed).nextBytes(bytes);
        return arena.allocate(size, 4096).copyFrom(MemorySegment.ofArray(bytes));
    }

    private static <T> T get(CompletableFuture<T> f) throws Exception {
        return f.get(30, TimeUnit.SECONDS);
    }

    private static Throwable failure(CompletableFuture<?> f) throws Exception {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("expected the request to fail");
    }

    @Test
    void dataRoundTrip() throws Exception {
        MemorySegment data = random(1 << 20, 1);
        get(endpoint.write(1, 8192, data));
        MemorySegment back = arena.allocate(1 << 20);
        get(endpoint.read(8192, back));
        assertThat(back.mismatch(data)).isEqualTo(-1);
        // the server wrote through to the replica
        MemorySegment local = arena.allocate(4096);
        replica.read(8192, local);
        assertThat(local.mismatch(data.asSlice(0, 4096))).isEqualTo(-1);
        // heap segments work as well as native ones
        byte[] heap = new byte[4096];
        get(endpoint.read(8192, MemorySegment.ofArray(heap)));
        assertThat(MemorySegment.ofArray(heap).mismatch(data.asSlice(0, 4096))).isEqualTo(-1);
    }

    @Test
    void transfersAboveTheFrameLimitAreSplit() throws Exception {
        long n = Frame.MAX_PAYLOAD + (1 << 20);
        MemorySegment data = random(n, 2);
        get(endpoint.write(1, 0, data));
        MemorySegment back = arena.allocate(n);
        get(endpoint.read(0, back));
        assertThat(back.mismatch(data)).isEqualTo(-1);
    }

    @Test
    void thousandsInFlightWithRepliesOutOfOrder() throws Exception {
        int slow = 100;
        int fast = 1500;
        MemorySegment data = random(fast * 4096L, 7);
        get(endpoint.write(1, 0, data));
        // hold every read in the server until all are sent, so they are surely in flight together
        CountDownLatch sent = new CountDownLatch(1);
        gate = sent;
        List<CompletableFuture<Void>> slowReads = new ArrayList<>();
        for (int i = 0; i < slow; i++) {
            slowReads.add(endpoint.read(SLOW, arena.allocate(SLOW_READ)));
        }
        List<CompletableFuture<Void>> fastReads = new ArrayList<>();
        List<MemorySegment> buffers = new ArrayList<>();
        for (int i = 0; i < fast; i++) {
            MemorySegment block = arena.allocate(4096);
            buffers.add(block);
            fastReads.add(endpoint.read(i * 4096L, block));
        }
        assertThat(endpoint.waiting()).isEqualTo(slow + fast);
        sent.countDown();
        get(CompletableFuture.allOf(fastReads.toArray(CompletableFuture[]::new)));
        // every fast read overtook the slow reads sent before it
        await().atMost(Duration.ofSeconds(30)).until(() -> slowArrived.get() == slow);
        assertThat(slowReads).noneMatch(CompletableFuture::isDone);
        release.countDown();
        get(CompletableFuture.allOf(slowReads.toArray(CompletableFuture[]::new)));
        for (int i = 0; i < fast; i++) {
            assertThat(buffers.get(i).mismatch(data.asSlice(i * 4096L, 4096)))
                    .as("block %d", i)
                    .isEqualTo(-1);
        }
        assertThat(endpoint.waiting()).isZero();
    }

    @Test
    void everyControlOp() throws Exception {
        get(endpoint.acceptEpoch(2));
        MemorySegment data = random(8192, 3);
        get(endpoint.write(2, 0, data));
        get(endpoint.flush());

        ReplicaInfo info = get(endpoint.info());
        assertThat(info.size()).isEqualTo(SIZE);
        assertThat(info.epoch()).isEqualTo(2);
        assertThat(info.revision()).isEqualTo(1);
        assertThat(info.chain()).containsExactly(Replica.HEAD_NAME);
        assertThat(info).isEqualTo(replica.info());

        assertThat(get(endpoint.extents(0, 1 << 20)))
                .containsExactly(
                        new BlockDevice.Extent(0, 8192, true), new BlockDevice.Extent(8192, (1 << 20) - 8192, false));

        Instant created = Instant.parse("2026-11-22T10:00:00Z");
        SnapshotInfo s1 = get(endpoint.snapshot("s1", true, Map.of("app", "db"), created));
        assertThat(s1.name()).isEqualTo("s1");
        assertThat(s1.created()).isEqualTo(created);
        assertThat(s1.labels()).containsEntry("app", "db");
        assertThat(s1.userCreated()).isTrue();

        get(endpoint.trim(2, 0, 4096));
        get(endpoint.writeZeroes(2, 4096, 4096));
        MemorySegment back = arena.allocate(8192);
        get(endpoint.read(0, back));
        assertThat(back.mismatch(arena.allocate(8192))).isEqualTo(-1);

        get(endpoint.snapshot("s2", false, Map.of(), created.plusSeconds(1)));
        assertThat(get(endpoint.snapshots())).extracting(SnapshotInfo::name).containsExactly("s1", "s2");
        assertThat(get(endpoint.snapshots())).isEqualTo(replica.snapshots());

        get(endpoint.revert("s1"));
        get(endpoint.read(0, back));
        assertThat(back.mismatch(data)).isEqualTo(-1);

        get(endpoint.deleteSnapshot("s2"));
        assertThat(get(endpoint.purge())).containsExactly("s2");
        assertThat(get(endpoint.snapshots())).extracting(SnapshotInfo::name).containsExactly("s1");

        get(endpoint.expand(2 * SIZE));
        assertThat(get(endpoint.info()).size()).isEqualTo(2 * SIZE);
        get(endpoint.write(2, 2 * SIZE - 4096, random(4096, 4)));
    }

    @Test
    void errorsComeBackTyped() throws Exception {
        get(endpoint.acceptEpoch(5));
        assertThat(failure(endpoint.write(3, 0, arena.allocate(4096))))
                .isExactlyInstanceOf(StaleEpochException.class)
                .hasMessage("stale epoch 3: the replica has accepted epoch 5");
        assertThat(failure(endpoint.acceptEpoch(4))).isExactlyInstanceOf(StaleEpochException.class);
        assertThat(failure(endpoint.trim(4, 0, 4096))).isExactlyInstanceOf(StaleEpochException.class);

        assertThat(failure(endpoint.read(SIZE, arena.allocate(4096))))
                .isExactlyInstanceOf(OutOfRangeException.class)
                .hasMessageContaining("outside the device");
        assertThat(failure(endpoint.write(5, 100, arena.allocate(512))))
                .isExactlyInstanceOf(OutOfRangeException.class)
                .hasMessageContaining("not aligned");

        assertThat(failure(endpoint.deleteSnapshot("nope"))).isExactlyInstanceOf(SnapshotException.class);
        assertThat(failure(endpoint.revert("nope"))).isExactlyInstanceOf(SnapshotException.class);
        get(endpoint.snapshot("s1", true, Map.of(), Instant.now()));
        assertThat(failure(endpoint.snapshot("s1", true, Map.of(), Instant.now())))
                .isExactlyInstanceOf(SnapshotException.class)
                .hasMessageContaining("already exists");
        assertThat(failure(endpoint.snapshot("bad name!", true, Map.of(), Instant.now())))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(failure(endpoint.expand(SIZE / 2))).isInstanceOf(IllegalArgumentException.class);
        // the connection survives request errors
        get(endpoint.write(5, 0, arena.allocate(4096)));
        assertThat(endpoint.failure()).isNull();
    }

    @Test
    void wrongSecretIsRefusedOnBothSides() throws Exception {
        long revision = replica.revision();
        assertThatThrownBy(() -> WireReplicaEndpoint.connect(server.url(), ClusterSecret.of("wrong")))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("authentication with replica " + server.url() + " failed")
                .hasMessageContaining("does not hold this cluster's secret");
        await().atMost(Duration.ofSeconds(10)).until(() -> server.refused.get() == 1);

        // a client that skips the handshake and sends a write at once is refused and served nothing
        try (SocketChannel raw = SocketChannel.open(server.address())) {
            Frame.writeFully(raw, Frame.request(Op.WRITE, 1, 0, 4096, 9, 4096).encode(), ByteBuffer.allocate(4096));
            Frame goodbye = Frame.read(raw, ByteBuffer.allocate(Frame.HEADER));
            assertThat(goodbye.op()).isEqualTo(Op.GOODBYE);
            assertThat(goodbye.status()).isEqualTo(Status.PROTOCOL);
            assertThat(readToEnd(raw, goodbye.payloadLength())).contains("expected HELLO");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.refused.get() == 2);
        assertThat(replica.revision()).isEqualTo(revision);
        assertThat(replica.epoch()).isZero();
    }

    @Test
    void serverWithAnotherSecretIsRefusedByTheClient() throws Exception {
        Replica other = Replica.create(tmp.resolve("other"), SIZE);
        toClose.add(other);
        ReplicaServer impostor = ReplicaServer.start(
                other, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), ClusterSecret.of("impostor"));
        toClose.add(impostor);
        assertThatThrownBy(() -> WireReplicaEndpoint.connect(impostor.url(), SECRET))
                .hasMessageContaining("authentication with replica " + impostor.url() + " failed");
        await().atMost(Duration.ofSeconds(10)).until(() -> impostor.refused.get() == 1);
    }

    @Test
    void garbageClosesOnlyThatConnection() throws Exception {
        // an authenticated peer that then sends garbage
        try (SocketChannel raw = SocketChannel.open(server.address())) {
            Handshake.client(raw, SECRET, server.url());
            Frame.writeFully(
                    raw,
                    ByteBuffer.wrap(
                            "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(4).getBytes(StandardCharsets.UTF_8)));
            Frame goodbye = Frame.read(raw, ByteBuffer.allocate(Frame.HEADER));
            assertThat(goodbye.op()).isEqualTo(Op.GOODBYE);
            assertThat(readToEnd(raw, goodbye.payloadLength())).contains("bad magic");
            assertThat(raw.read(ByteBuffer.allocate(1))).isEqualTo(-1);
        }
        // a well-formed frame that lies about its payload
        try (SocketChannel raw = SocketChannel.open(server.address())) {
            Handshake.client(raw, SECRET, server.url());
            Frame.writeFully(raw, Frame.request(Op.WRITE, 1, 0, 4096, 1, 512).encode(), ByteBuffer.allocate(512));
            Frame goodbye = Frame.read(raw, ByteBuffer.allocate(Frame.HEADER));
            assertThat(readToEnd(raw, goodbye.payloadLength())).contains("carries 512 bytes");
        }
        // the engine's connections never noticed
        MemorySegment data = random(4096, 5);
        get(endpoint.write(1, 0, data));
        MemorySegment back = arena.allocate(4096);
        get(endpoint.read(0, back));
        assertThat(back.mismatch(data)).isEqualTo(-1);
        await().atMost(Duration.ofSeconds(10)).until(() -> server.connections() == 2);
    }

    @Test
    void serverGoingAwayFailsPendingAndLaterRequestsPromptly() throws Exception {
        List<CompletableFuture<Void>> pending = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            pending.add(endpoint.read(SLOW, arena.allocate(SLOW_READ)));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> slowArrived.get() == 20);
        // close() waits for the stuck requests, so run it beside the test; the sockets close first
        CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
        for (CompletableFuture<Void> f : pending) {
            assertThat(failure(f.orTimeout(5, TimeUnit.SECONDS)))
                    .isExactlyInstanceOf(IOException.class)
                    .hasMessageContaining("replica " + server.url());
        }
        assertThat(failure(endpoint.flush())).isInstanceOf(IOException.class).hasMessageContaining(server.url());
        assertThat(endpoint.waiting()).isZero();
        release.countDown();
        get(closing);
    }

    @Test
    void callerGivingUpLeavesNoEntryBehind() throws Exception {
        CompletableFuture<Void> slow =
                endpoint.read(SLOW, arena.allocate(SLOW_READ)).orTimeout(50, TimeUnit.MILLISECONDS);
        assertThatThrownBy(() -> slow.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(TimeoutException.class);
        CompletableFuture<Void> cancelled = endpoint.read(SLOW, arena.allocate(SLOW_READ));
        cancelled.cancel(false);
        assertThat(endpoint.waiting()).isZero();
        // the late replies are read and dropped; the connection stays in step
        await().atMost(Duration.ofSeconds(10)).until(() -> slowArrived.get() == 2);
        release.countDown();
        MemorySegment data = random(4096, 6);
        get(endpoint.write(1, SLOW, data));
        MemorySegment back = arena.allocate(4096);
        get(endpoint.read(SLOW, back));
        assertThat(back.mismatch(data)).isEqualTo(-1);
        assertThat(endpoint.waiting()).isZero();
        assertThat(endpoint.failure()).isNull();
    }

    @Test
    void closedEndpointFailsRequests() throws Exception {
        endpoint.close();
        assertThat(failure(endpoint.flush())).isInstanceOf(IOException.class).hasMessageContaining("closed");
    }

    @Test
    void badAddressesAreRefused() {
        assertThatThrownBy(() -> WireReplicaEndpoint.connect("http://x:1", SECRET))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("tcp://HOST:PORT or unix:///PATH");
        for (String bad : new String[] {"tcp://127.0.0.1", "unix://host/x.sock", "unix:relative.sock", "unix:///x?y"}) {
            assertThatThrownBy(() -> WireReplicaEndpoint.connect(bad, SECRET))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("bad replica address " + bad);
        }
    }

    @Test
    void aReplicaServedOnAUnixSocketWorksLikeOverTcpAndCleansUp() throws Exception {
        Path sock = tmp.resolve("r.sock");
        java.net.UnixDomainSocketAddress at = java.net.UnixDomainSocketAddress.of(sock);
        // a socket file left by a process that died is replaced
        try (java.nio.channels.ServerSocketChannel dead =
                java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            dead.bind(at);
        }
        assertThat(sock).exists();
        try (ReplicaServer local = ReplicaServer.start(replica, at, SECRET)) {
            assertThat(local.url()).isEqualTo("unix://" + sock.toAbsolutePath());
            assertThat(local.port()).isEqualTo(-1);
            // a second server on the same path is refused while the first one serves
            assertThatThrownBy(() -> ReplicaServer.start(replica, at, SECRET))
                    .hasMessageContaining("another process serves " + sock);
            try (WireReplicaEndpoint viaUnix = WireReplicaEndpoint.connect(local.url(), SECRET)) {
                MemorySegment data = random(128 << 10, 11);
                get(viaUnix.write(3, 8192, data));
                MemorySegment back = arena.allocate(128 << 10, 4096);
                get(viaUnix.read(8192, back));
                assertThat(back.mismatch(data)).isEqualTo(-1);
                // the same replica over TCP sees the write
                MemorySegment overTcp = arena.allocate(128 << 10, 4096);
                get(endpoint.read(8192, overTcp));
                assertThat(overTcp.mismatch(data)).isEqualTo(-1);
                // and a rebuild target on this machine pulls from the source's socket
                get(viaUnix.snapshot("s", true, Map.of(), Instant.EPOCH));
                try (Replica other = Replica.create(tmp.resolve("target"), SIZE);
                        ReplicaServer target = ReplicaServer.start(
                                other, java.net.UnixDomainSocketAddress.of(tmp.resolve("t.sock")), SECRET);
                        WireReplicaEndpoint toTarget = WireReplicaEndpoint.connect(target.url(), SECRET)) {
                    get(toTarget.prepareRebuild(3, get(viaUnix.snapshots()), "s"));
                    java.util.BitSet wanted = new java.util.BitSet();
                    wanted.set(0, 64);
                    assertThat(get(toTarget.pullLayer(3, local.url(), "s", 0, 64, wanted)))
                            .isEqualTo(128 << 10);
                    assertThat(other.layerDigests("s", 0, 64)).isEqualTo(replica.layerDigests("s", 0, 64));
                }
            }
            assertThatThrownBy(() -> WireReplicaEndpoint.connect(local.url(), ClusterSecret.of("wrong")))
                    .hasMessageContaining("does not hold this cluster's secret");
        }
        assertThat(sock).doesNotExist();
        assertThat(tmp.resolve("t.sock")).doesNotExist();
        // a path that is not a socket is never removed
        java.nio.file.Files.writeString(sock, "not a socket");
        assertThatThrownBy(() -> ReplicaServer.start(replica, at, SECRET)).hasMessageContaining("is not a socket");
        assertThat(sock).hasContent("not a socket");
    }

    private static String readToEnd(SocketChannel ch, int n) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(n);
        Frame.readFully(ch, buf);
        return new String(buf.array(), StandardCharsets.UTF_8);
    }

    @Test
    void aRebuildTargetFetchesBlocksFromItsSourceItself() throws Exception {
        endpoint.write(1, 0, random(64 << 10, 7)).join();
        endpoint.snapshot("s", true, java.util.Map.of(), java.time.Instant.EPOCH)
                .join();
        try (Replica other = Replica.create(tmp.resolve("target"), SIZE);
                ReplicaServer target =
                        ReplicaServer.start(other, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), SECRET);
                WireReplicaEndpoint toTarget = WireReplicaEndpoint.connect(target.url(), SECRET)) {
            toTarget.prepareRebuild(1, endpoint.snapshots().join(), "s").join();
            java.util.BitSet wanted = new java.util.BitSet();
            wanted.set(0, 32);
            long bytes = toTarget.pullLayer(1, server.url(), "s", 0, 32, wanted).join();
            assertThat(bytes).isEqualTo(64 << 10);
            assertThat(other.layerDigests("s", 0, 32)).isEqualTo(replica.layerDigests("s", 0, 32));
            assertThatThrownBy(() -> toTarget.pullLayer(1, "tcp://127.0.0.1:1", "s", 0, 32, wanted)
                            .join())
                    .hasMessageContaining("tcp://127.0.0.1:1");
        }
    }
}
