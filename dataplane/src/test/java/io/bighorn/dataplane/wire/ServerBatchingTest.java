package io.bighorn.dataplane.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server's reader batching: many frames per read, inline and offloaded requests on one connection,
 * frames split across reads, back-pressure, a client gone mid-reply and broken frames, through real
 * sockets with raw frames.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServerBatchingTest {
    private static final long SIZE = 64L << 20;
    private static final ClusterSecret SECRET = ClusterSecret.of("batching-secret");
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final AtomicInteger started = new AtomicInteger();
    /** Run by the server before each request, after counting it in {@link #started}. */
    private volatile ReplicaServer.RequestHook hook = _ -> {};

    private Replica replica;
    private ReplicaServer server;

    @BeforeEach
    void setUp() throws Exception {
        replica = Replica.create(tmp.resolve("r"), SIZE);
        server = ReplicaServer.start(replica, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), SECRET, f -> {
            started.incrementAndGet();
            hook.before(f);
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        hook = _ -> {};
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        server.close();
        replica.close();
        arena.close();
    }

    @Test
    void pipelinedBurstsOfSmallWritesAndReadsTakeFewSystemCalls() throws Exception {
        int n = 500;
        SocketChannel raw = connect(0);
        byte[][] blocks = new byte[n][];
        ByteBuffer writes = ByteBuffer.allocate(n * (Frame.HEADER + 4096));
        for (int i = 0; i < n; i++) {
            blocks[i] = random(4096, i);
            writes.put(frame(Op.WRITE, i, i * 4096L, 4096, blocks[i].length)).put(blocks[i]);
        }
        long reads = server.socketReads.sum();
        long written = server.socketWrites.sum();
        Frame.writeFully(raw, writes.flip());
        Set<Long> ids = new HashSet<>();
        for (int i = 0; i < n; i++) {
            Received r = receive(raw);
            assertThat(r.frame().op()).isEqualTo(Op.WRITE);
            assertThat(r.frame().status()).as(r.text()).isEqualTo(Status.OK);
            ids.add(r.frame().id());
        }
        assertThat(ids).hasSize(n);

        ByteBuffer readRequests = ByteBuffer.allocate(n * Frame.HEADER);
        for (int i = 0; i < n; i++) {
            readRequests.put(frame(Op.READ, n + i, i * 4096L, 4096, 0));
        }
        Frame.writeFully(raw, readRequests.flip());
        for (int i = 0; i < n; i++) {
            Received r = receive(raw);
            assertThat(r.frame().status()).as(r.text()).isEqualTo(Status.OK);
            int block = (int) (r.frame().id() - n);
            assertThat(r.payload()).as("block %d", block).isEqualTo(blocks[block]);
        }
        // the server wrote through to the replica
        for (int i = 0; i < n; i += 97) {
            MemorySegment local = arena.allocate(4096);
            replica.read(i * 4096L, local);
            assertThat(local.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(blocks[i]);
        }
        // a read per header and per payload and a write per reply would be 3n and 2n: batching takes far fewer
        long readCalls = server.socketReads.sum() - reads;
        long writeCalls = server.socketWrites.sum() - written;
        assertThat(readCalls).as("read calls for %d frames", 2 * n).isLessThan(n / 5);
        assertThat(writeCalls).as("write calls for %d replies", 2 * n).isLessThan(n / 5);
    }

    @Test
    void inlineAndOffloadedRequestsInterleaveOnOneConnection() throws Exception {
        WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(server.url(), SECRET, 1);
        toClose.add(endpoint);
        long big = 1 << 20;
        long bigBase = 16L << 20;
        int small = 200;
        List<CompletableFuture<?>> sent = new ArrayList<>();
        Map<Long, MemorySegment> expected = new HashMap<>();
        for (int i = 0; i < small; i++) {
            MemorySegment block = segment(random(4096, 1000 + i));
            expected.put(i * 4096L, block);
            sent.add(endpoint.write(1, i * 4096L, block));
            if (i % 10 == 0) {
                sent.add(endpoint.flush());
            }
            if (i % 25 == 0) {
                long offset = bigBase + (i / 25) * big;
                MemorySegment data = segment(random((int) big, 2000 + i));
                expected.put(offset, data);
                sent.add(endpoint.write(1, offset, data));
            }
            if (i % 50 == 0) {
                sent.add(endpoint.info());
            }
        }
        CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);

        // read everything back, small and large interleaved in one pipeline
        Map<Long, MemorySegment> back = new HashMap<>();
        List<CompletableFuture<?>> reads = new ArrayList<>();
        for (Map.Entry<Long, MemorySegment> e : expected.entrySet()) {
            MemorySegment into = arena.allocate(e.getValue().byteSize());
            back.put(e.getKey(), into);
            reads.add(endpoint.read(e.getKey(), into));
            if (back.size() % 40 == 0) {
                reads.add(endpoint.flush());
            }
        }
        CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        for (Map.Entry<Long, MemorySegment> e : expected.entrySet()) {
            assertThat(back.get(e.getKey()).mismatch(e.getValue()))
                    .as("offset %d", e.getKey())
                    .isEqualTo(-1);
        }
        assertThat(endpoint.failure()).isNull();
    }

    @Test
    void aSlowFlushDoesNotHoldUpSmallRequests() throws Exception {
        WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(server.url(), SECRET, 1);
        toClose.add(endpoint);
        CountDownLatch flushing = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        toClose.add(release::countDown);
        hook = f -> {
            if (f.op() == Op.FLUSH) {
                flushing.countDown();
                release.await();
            }
        };
        CompletableFuture<Void> flush = endpoint.flush();
        assertThat(flushing.await(30, TimeUnit.SECONDS)).isTrue();
        MemorySegment data = segment(random(64 << 10, 3));
        for (int i = 0; i < 50; i++) {
            endpoint.write(1, i * data.byteSize(), data).get(30, TimeUnit.SECONDS);
            MemorySegment into = arena.allocate(data.byteSize());
            endpoint.read(i * data.byteSize(), into).get(30, TimeUnit.SECONDS);
            assertThat(into.mismatch(data)).isEqualTo(-1);
        }
        assertThat(flush).isNotDone();
        release.countDown();
        flush.get(30, TimeUnit.SECONDS);
    }

    @Test
    void framesSplitAcrossSegmentsAreReassembled() throws Exception {
        SocketChannel raw = connect(0);
        byte[] small = random(4096, 4);
        byte[] large = random(512 << 10, 5); // offloaded, and most of it read straight into its buffer
        ByteBuffer stream = ByteBuffer.allocate(2 * Frame.HEADER + small.length + large.length)
                .put(frame(Op.WRITE, 1, 0, small.length, small.length))
                .put(small)
                .put(frame(Op.WRITE, 2, 1 << 20, large.length, large.length))
                .put(large)
                .flip();
        // cut inside the first header, inside each payload, inside the second header
        int[] cuts = {20, 48 + 1000, 2 * 48 + 4096 - 18, 2 * 48 + 4096 + (100 << 10), 2 * 48 + 4096 + (300 << 10)};
        int from = 0;
        for (int cut : cuts) {
            long reads = server.socketReads.sum();
            Frame.writeFully(raw, stream.slice(from, cut - from));
            from = cut;
            // the server has read this piece (and is waiting for more) before the next is sent
            await().atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> server.socketReads.sum() > reads);
        }
        Frame.writeFully(raw, stream.slice(from, stream.limit() - from));
        Set<Long> answered = new HashSet<>();
        for (int i = 0; i < 2; i++) {
            Received r = receive(raw);
            assertThat(r.frame().status()).as(r.text()).isEqualTo(Status.OK);
            answered.add(r.frame().id());
        }
        assertThat(answered).containsExactlyInAnyOrder(1L, 2L);

        Frame.writeFully(raw, frame(Op.READ, 3, 0, small.length, 0), frame(Op.READ, 4, 1 << 20, large.length, 0));
        for (int i = 0; i < 2; i++) {
            Received r = receive(raw);
            assertThat(r.frame().status()).as(r.text()).isEqualTo(Status.OK);
            assertThat(r.payload()).isEqualTo(r.frame().id() == 3 ? small : large);
        }
    }

    @Test
    void aClientThatDoesNotReadItsRepliesIsHeldBack() throws Exception {
        int size = RequestHandler.INLINE_MAX + 4096; // each read runs on its own thread, sent from the files
        int n = 2 * ReplicaServer.MAX_IN_FLIGHT + 100;
        int regions = 32;
        byte[][] data = new byte[regions][];
        for (int i = 0; i < regions; i++) {
            data[i] = random(size, 6000 + i);
            replica.write(0, (long) i * size, segment(data[i]));
        }
        SocketChannel raw = connect(64 << 10);
        ByteBuffer requests = ByteBuffer.allocate(n * Frame.HEADER);
        for (int i = 0; i < n; i++) {
            requests.put(frame(Op.READ, i, (long) (i % regions) * size, size, 0));
        }
        Frame.writeFully(raw, requests.flip());
        // the server fills its permits, then stops reading: requests stay unread, the open reads bounded
        await().atMost(WAIT).until(() -> started.get() >= ReplicaServer.MAX_IN_FLIGHT);
        assertThat(started.get()).isLessThan(n);
        assertThat(server.buffers.peakOnLoan()).isLessThanOrEqualTo(ReplicaServer.MAX_IN_FLIGHT);

        Set<Long> ids = new HashSet<>();
        for (int i = 0; i < n; i++) {
            Received r = receive(raw);
            assertThat(r.frame().status()).as(r.text()).isEqualTo(Status.OK);
            assertThat(r.payload()).isEqualTo(data[(int) (r.frame().id() % regions)]);
            ids.add(r.frame().id());
        }
        assertThat(ids).hasSize(n);
        assertThat(started.get()).isEqualTo(n);
        assertThat(server.buffers.peakOnLoan()).isLessThanOrEqualTo(ReplicaServer.MAX_IN_FLIGHT);
    }

    @Test
    void aClientGoneBeforeItsRepliesEndsOnlyItsConnection() throws Exception {
        SocketChannel raw = connect(64 << 10);
        int n = 400;
        ByteBuffer requests = ByteBuffer.allocate(n * Frame.HEADER);
        for (int i = 0; i < n; i++) {
            int size = i % 4 == 0 ? 256 << 10 : 64 << 10; // on their own threads, and on the reader
            requests.put(frame(Op.READ, i, 0, size, 0));
        }
        Frame.writeFully(raw, requests.flip());
        await().atMost(WAIT).until(() -> started.get() > 0);
        raw.setOption(StandardSocketOptions.SO_LINGER, 0); // reset: the server's next write fails
        raw.close();
        await().atMost(WAIT).until(() -> server.connections() == 0);

        WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(server.url(), SECRET);
        toClose.add(endpoint);
        MemorySegment data = segment(random(4096, 9));
        endpoint.write(1, 0, data).get(30, TimeUnit.SECONDS);
        MemorySegment back = arena.allocate(4096);
        endpoint.read(0, back).get(30, TimeUnit.SECONDS);
        assertThat(back.mismatch(data)).isEqualTo(-1);
    }

    @Test
    void aBrokenFrameAfterValidOnesEndsOnlyThatConnection() throws Exception {
        WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(server.url(), SECRET);
        toClose.add(endpoint);
        byte[] garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2).getBytes(StandardCharsets.UTF_8);
        Map<String, ByteBuffer> tails = Map.of(
                "bad magic", ByteBuffer.wrap(garbage),
                "READ carries 8 bytes of payload",
                        ByteBuffer.allocate(Frame.HEADER + 8)
                                .put(frame(Op.READ, 99, 0, 4096, 8))
                                .clear(),
                "WRITE of 4096 bytes carries 512 bytes", frame(Op.WRITE, 99, 0, 4096, 512));
        for (Map.Entry<String, ByteBuffer> tail : tails.entrySet()) {
            SocketChannel raw = connect(0);
            int n = 8;
            ByteBuffer burst = ByteBuffer.allocate(2 * n * Frame.HEADER + n * 4096 + Frame.HEADER);
            byte[][] blocks = new byte[n][];
            for (int i = 0; i < n; i++) {
                blocks[i] = random(4096, 7000 + i);
                burst.put(frame(Op.WRITE, i, i * 4096L, 4096, 4096)).put(blocks[i]);
            }
            burst.put(frame(Op.FLUSH, 100, 0, 0, 0));
            for (int i = 0; i < n; i++) {
                burst.put(frame(Op.READ, n + i, i * 4096L, 4096, 0));
            }
            Frame.writeFully(raw, burst.flip(), tail.getValue());
            // every request before the broken frame that ran on the reader is answered before the GOODBYE;
            // the flush, on its own thread, may be answered or dropped
            Set<Long> answered = new HashSet<>();
            Received r = receive(raw);
            while (r.frame().op() != Op.GOODBYE) {
                assertThat(r.frame().status()).as(r.text()).isEqualTo(Status.OK);
                long id = r.frame().id();
                if (id >= n && id < 2L * n) {
                    assertThat(r.payload()).isEqualTo(blocks[(int) id - n]);
                }
                answered.add(id);
                r = receive(raw);
            }
            assertThat(r.frame().status()).isEqualTo(Status.PROTOCOL);
            assertThat(r.text()).contains(tail.getKey());
            assertThat(answered).containsAll(LongStream.range(0, 2L * n).boxed().toList());
            assertThat(raw.read(ByteBuffer.allocate(1))).isEqualTo(-1);
            raw.close();
        }
        // the engine's connections never noticed
        MemorySegment data = segment(random(4096, 8));
        endpoint.write(1, 0, data).get(30, TimeUnit.SECONDS);
        MemorySegment back = arena.allocate(4096);
        endpoint.read(0, back).get(30, TimeUnit.SECONDS);
        assertThat(back.mismatch(data)).isEqualTo(-1);
        assertThat(endpoint.failure()).isNull();
        await().atMost(WAIT).until(() -> server.connections() == WireReplicaEndpoint.DEFAULT_CONNECTIONS);
    }

    private SocketChannel connect(int receiveBuffer) throws IOException {
        SocketChannel ch = SocketChannel.open();
        toClose.add(ch);
        if (receiveBuffer > 0) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, receiveBuffer);
        }
        ch.connect(server.address());
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        Handshake.client(ch, SECRET, server.url());
        return ch;
    }

    private static ByteBuffer frame(Op op, long id, long offset, long length, int payload) {
        return Frame.request(op, id, offset, length, 1, payload).encode();
    }

    /** A reply as received: its header and its payload. */
    @SuppressWarnings("ArrayRecordComponent") // a test value, read by its parts
    private record Received(Frame frame, byte[] payload) {
        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }
    }

    private static Received receive(SocketChannel ch) throws IOException {
        Frame f = Frame.read(ch, ByteBuffer.allocate(Frame.HEADER));
        byte[] payload = new byte[f.payloadLength()];
        Frame.readFully(ch, ByteBuffer.wrap(payload));
        return new Received(f, payload);
    }

    private MemorySegment segment(byte[] bytes) {
        return arena.allocate(bytes.length, 4096).copyFrom(MemorySegment.ofArray(bytes));
    }

    private static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }
}
