package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.dataplane.replica.ReplicaDevice;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The NBD client against Bighorn's own server, and against scripted servers for what that server never does
 * (replies out of order, refusing NBD_OPT_GO, error replies, dropping the connection mid-request).
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a hang fails, it does not stall
class NbdClientTest {
    /** Over {@link NbdClient#MAX_REQUEST}, so large calls are split. */
    private static final long SIZE = 48L << 20;

    private Path dir;
    private ReplicaDevice device;
    private NbdServer server;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("nbd-client-test");
        device = TestVolumes.create(dir.resolve("vol0"), SIZE);
        server = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "test volume", device)));
    }

    @AfterEach
    void tearDown() throws Exception {
        TestVolumes.tearDown(server, device, dir);
    }

    private String url() {
        return "nbd://127.0.0.1:" + server.port() + "/vol0";
    }

    private static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void opensTheExportAndReportsItsSizeAndFlags() throws Exception {
        try (NbdClient c = NbdClient.connect(url())) {
            assertThat(c.size()).isEqualTo(SIZE);
            assertThat(c.readOnly()).isFalse();
            assertThat(c.canFlush()).isTrue();
            assertThat(c.canWriteZeroes()).isTrue();
            assertThat(c.canTrim()).isTrue();
            assertThat(c.canMultiConn()).isTrue();
        }
        assertThat(server.clients("vol0")).isZero();
    }

    @Test
    void writesAndReadsBackSmallAndSplitRanges() throws Exception {
        try (NbdClient c = NbdClient.connect(url())) {
            byte[] small = random(4096, 1);
            c.write(8192, small, 0, small.length);
            byte[] back = new byte[4096 + 100];
            c.read(8192, back, 100, 4096);
            assertThat(Arrays.copyOfRange(back, 100, back.length)).isEqualTo(small);

            // 40 MiB from the middle of an array: two requests (32 MiB + 8 MiB), both ways
            int length = 40 << 20;
            byte[] big = random(length + 1000, 2);
            c.write(1 << 20, big, 1000, length);
            byte[] bigBack = new byte[length];
            c.read(1 << 20, bigBack, 0, length);
            assertThat(bigBack).isEqualTo(Arrays.copyOfRange(big, 1000, big.length));

            c.write(0, new byte[0], 0, 0); // nothing to send
            c.read(SIZE, new byte[0], 0, 0);
        }
    }

    @Test
    void eightThreadsWriteDisjointRangesAtOnceThenReadThemBackAtOnce() throws Exception {
        int threads = 8;
        int part = (int) (SIZE / threads);
        int piece = 64 << 10; // many small requests per thread, in flight together
        byte[] all = random((int) SIZE, 3);
        try (NbdClient c = NbdClient.connect(url());
                ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<?>> writes = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int start = t * part;
                writes.add(pool.submit(() -> {
                    for (int at = start; at < start + part; at += piece) {
                        c.write(at, all, at, piece);
                    }
                    return null;
                }));
            }
            for (Future<?> f : writes) {
                f.get();
            }
            c.flush();
            byte[] back = new byte[(int) SIZE];
            List<Future<?>> reads = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int start = t * part;
                reads.add(pool.submit(() -> {
                    for (int at = start; at < start + part; at += piece) {
                        c.read(at, back, at, piece);
                    }
                    return null;
                }));
            }
            for (Future<?> f : reads) {
                f.get();
            }
            assertThat(Arrays.mismatch(back, all)).isEqualTo(-1);
        }
    }

    @Test
    void writeZeroesZeroesLargeAndSmallRanges() throws Exception {
        try (NbdClient c = NbdClient.connect(url())) {
            byte[] all = random((int) SIZE, 4);
            c.write(0, all, 0, all.length);
            c.writeZeroes(4096, 8192);
            Arrays.fill(all, 4096, 4096 + 8192, (byte) 0);
            c.writeZeroes(1 << 20, 36L << 20); // split
            Arrays.fill(all, 1 << 20, 37 << 20, (byte) 0);
            c.writeZeroes(SIZE, 0);
            c.flush();
            byte[] back = new byte[(int) SIZE];
            c.read(0, back, 0, back.length);
            assertThat(Arrays.mismatch(back, all)).isEqualTo(-1);
        }
    }

    @Test
    void anUnknownExportIsAClearIOException() {
        assertThatThrownBy(() -> NbdClient.connect("nbd://127.0.0.1:" + server.port() + "/nope"))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("export 'nope'")
                .hasMessageContaining("unknown export")
                .hasMessageContaining("no export named 'nope'"); // the server's own message
    }

    @Test
    void badUrlsAreIllegalArgumentsNamingTheUrl() {
        for (String bad : List.of("http://127.0.0.1/vol0", "nbd:///vol0", "127.0.0.1:10809", "nbd://h/x?tls=1")) {
            assertThatThrownBy(() -> NbdClient.connect(bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(bad);
        }
    }

    @Test
    void nothingListeningIsAnIOException() throws Exception {
        int free;
        try (ServerSocket s = new ServerSocket(0)) {
            free = s.getLocalPort();
        }
        String url = "nbd://127.0.0.1:" + free + "/vol0";
        assertThatThrownBy(() -> NbdClient.connect(url))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot open " + url);
    }

    @Test
    void outOfRangeRequestsAreRefusedBeforeSending() throws Exception {
        try (NbdClient c = NbdClient.connect(url())) {
            byte[] b = new byte[8192];
            assertThatThrownBy(() -> c.write(SIZE - 4096, b, 0, 8192))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("outside " + url());
            assertThatThrownBy(() -> c.read(-512, b, 0, 512)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.read(SIZE + 512, b, 0, 0)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.writeZeroes(0, -1)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.writeZeroes(Long.MAX_VALUE, 4096)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.write(0, b, 4096, 8192)).isInstanceOf(IndexOutOfBoundsException.class);
            // nothing was sent: the connection still works
            c.write(SIZE - 8192, b, 0, 8192);
        }
    }

    @Test
    void anErrorReplyNamesTheErrorAndTheRangeAndTheConnectionGoesOn() throws Exception {
        try (NbdClient c = NbdClient.connect(url())) {
            // Bighorn's server wants 512-byte alignment: EINVAL
            assertThatThrownBy(() -> c.write(4096, new byte[100], 0, 100))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("EINVAL (22)")
                    .hasMessageContaining("write of 100 bytes at offset 4096")
                    .hasMessageContaining(url());
            byte[] b = random(4096, 5);
            c.write(0, b, 0, b.length);
            byte[] back = new byte[4096];
            c.read(0, back, 0, back.length);
            assertThat(back).isEqualTo(b);
        }
    }

    @Test
    void aServerThatGoesAwayFailsEveryCallerAndLaterCalls() throws Exception {
        NbdClient c = NbdClient.connect(url());
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            CountDownLatch writing = new CountDownLatch(4);
            List<Future<?>> writers = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                long start = (long) t << 20;
                writers.add(pool.submit(() -> {
                    byte[] b = new byte[64 << 10];
                    writing.countDown();
                    while (true) { // until the connection breaks
                        for (long at = start; at < start + (1 << 20); at += b.length) {
                            c.write(at, b, 0, b.length);
                        }
                    }
                }));
            }
            writing.await();
            server.close();
            for (Future<?> f : writers) {
                assertThatThrownBy(f::get).hasCauseInstanceOf(IOException.class);
                assertThat(exceptionOf(f).getMessage()).contains(url());
            }
        }
        assertThatThrownBy(() -> c.read(0, new byte[512], 0, 512))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(url());
        c.close();
        c.close(); // idempotent
        assertThatThrownBy(c::flush).isInstanceOf(IOException.class).hasMessageContaining("closed");
    }

    @Test
    void closeSaysGoodbyeAndLaterCallsFail() throws Exception {
        NbdClient c = NbdClient.connect(url());
        c.write(0, new byte[4096], 0, 4096);
        c.close();
        assertThatThrownBy(() -> c.write(0, new byte[4096], 0, 4096))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("closed");
        org.awaitility.Awaitility.await().until(() -> server.clients("vol0") == 0);
    }

    private static Throwable exceptionOf(Future<?> f) {
        try {
            f.get();
            throw new AssertionError("no exception");
        } catch (java.util.concurrent.ExecutionException e) {
            return e.getCause();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    // ---- scripted servers ----

    @Test
    void repliesOutOfOrderReachTheirCallers() throws Exception {
        int n = 8;
        try (FakeServer fake = new FakeServer((in, out) -> {
            FakeServer.handshakeGo(in, out, 1 << 20, Protocol.FLAG_HAS_FLAGS | Protocol.FLAG_SEND_FLUSH);
            // all eight READs arrive before any reply: they are in flight together
            List<long[]> requests = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                requests.add(FakeServer.readRequest(in));
            }
            for (long[] r : requests.reversed()) {
                FakeServer.reply(out, r[1], 0);
                out.write(pattern(r[2], (int) r[3]));
            }
            out.flush();
            // then an error for a write and one for a read, EIO and ENOSPC, out of order too
            long[] w = FakeServer.readRequest(in);
            in.skipNBytes(w[3]);
            long[] r = FakeServer.readRequest(in);
            FakeServer.reply(out, r[1], Protocol.EIO);
            FakeServer.reply(out, w[1], Protocol.ENOSPC);
            out.flush();
            FakeServer.expectDisc(in);
        })) {
            try (NbdClient c = NbdClient.connect(fake.url("x"));
                    ExecutorService pool = Executors.newFixedThreadPool(n)) {
                assertThat(c.size()).isEqualTo(1 << 20);
                assertThat(c.canFlush()).isTrue();
                assertThat(c.canWriteZeroes()).isFalse();
                List<Future<byte[]>> reads = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    long offset = i * 4096L;
                    reads.add(pool.submit(() -> {
                        byte[] b = new byte[4096];
                        c.read(offset, b, 0, b.length);
                        return b;
                    }));
                }
                for (int i = 0; i < n; i++) {
                    assertThat(reads.get(i).get()).isEqualTo(pattern(i * 4096L, 4096));
                }
                Future<?> write = pool.submit(() -> {
                    c.write(8192, new byte[512], 0, 512);
                    return null;
                });
                fake.awaitRequests(n + 1);
                Future<?> read = pool.submit(() -> {
                    c.read(0, new byte[1024], 0, 1024);
                    return null;
                });
                assertThat(exceptionOf(write))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("write of 512 bytes at offset 8192")
                        .hasMessageContaining("ENOSPC (28)");
                assertThat(exceptionOf(read))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("read of 1024 bytes at offset 0")
                        .hasMessageContaining("EIO (5)");
            }
            fake.check();
        }
    }

    @Test
    void aServerWithoutOptGoGetsExportName() throws Exception {
        try (FakeServer fake = new FakeServer((in, out) -> {
            FakeServer.greet(in, out);
            long[] go = FakeServer.readOption(in);
            assertThat(go[0]).isEqualTo(Protocol.OPT_GO);
            FakeServer.optionReply(out, Protocol.OPT_GO, Protocol.REP_ERR_UNSUP, new byte[0]);
            int option = (int) FakeServer.readOption(in)[0];
            assertThat(option).isEqualTo(Protocol.OPT_EXPORT_NAME);
            out.writeLong(3 << 20);
            out.writeShort(Protocol.FLAG_HAS_FLAGS | Protocol.FLAG_READ_ONLY);
            out.flush(); // no 124 zero bytes: NO_ZEROES was agreed
            long[] r = FakeServer.readRequest(in);
            FakeServer.reply(out, r[1], 0);
            out.write(pattern(r[2], (int) r[3]));
            out.flush();
            FakeServer.expectDisc(in);
        })) {
            try (NbdClient c = NbdClient.connect(fake.url(""))) {
                assertThat(c.size()).isEqualTo(3 << 20);
                assertThat(c.readOnly()).isTrue();
                assertThat(c.canFlush()).isFalse();
                c.flush(); // nothing to send
                byte[] b = new byte[512];
                c.read(1024, b, 0, b.length);
                assertThat(b).isEqualTo(pattern(1024, 512));
            }
            fake.check();
        }
    }

    @Test
    void writeZeroesWithoutTheCommandWritesZeros() throws Exception {
        try (FakeServer fake = new FakeServer((in, out) -> {
            FakeServer.handshakeGo(in, out, 16 << 20, Protocol.FLAG_HAS_FLAGS);
            long covered = 0;
            while (covered < (9 << 20)) {
                long[] r = FakeServer.readRequest(in);
                assertThat(r[0]).isEqualTo(Protocol.CMD_WRITE);
                assertThat(r[2]).isEqualTo((1 << 20) + covered);
                byte[] payload = new byte[(int) r[3]];
                in.readFully(payload);
                assertThat(payload).containsOnly(0);
                covered += r[3];
                FakeServer.reply(out, r[1], 0);
                out.flush();
            }
            FakeServer.expectDisc(in);
        })) {
            try (NbdClient c = NbdClient.connect(fake.url("vol"))) {
                assertThat(c.canWriteZeroes()).isFalse();
                c.writeZeroes(1 << 20, 9 << 20);
            }
            fake.check();
        }
    }

    @Test
    void aConnectionDroppedMidRequestFailsTheWaitingCallerAndLaterCalls() throws Exception {
        try (FakeServer fake = new FakeServer((in, out) -> {
            FakeServer.handshakeGo(in, out, 1 << 20, Protocol.FLAG_HAS_FLAGS);
            FakeServer.readRequest(in); // and no reply: the connection closes under it
        })) {
            NbdClient c = NbdClient.connect(fake.url("vol"));
            try {
                assertThatThrownBy(() -> c.read(0, new byte[4096], 0, 4096))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("read of 4096 bytes at offset 0 on " + fake.url("vol"))
                        .hasMessageContaining("the server closed the connection");
                assertThatThrownBy(() -> c.write(0, new byte[4096], 0, 4096))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining(fake.url("vol"));
            } finally {
                c.close();
            }
            fake.check();
        }
    }

    @Test
    void aServerRefusingTheExportIsAnIOExceptionWithItsMessage() throws Exception {
        try (FakeServer fake = new FakeServer((in, out) -> {
            FakeServer.greet(in, out);
            FakeServer.readOption(in);
            FakeServer.optionReply(
                    out, Protocol.OPT_GO, Protocol.REP_ERR_TLS_REQD, "TLS first".getBytes(StandardCharsets.UTF_8));
        })) {
            assertThatThrownBy(() -> NbdClient.connect(fake.url("secure")))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("export 'secure'")
                    .hasMessageContaining("NBD_REP_ERR_TLS_REQD")
                    .hasMessageContaining("TLS first");
            fake.check();
        }
    }

    /** Bytes that tell where they were read from. */
    private static byte[] pattern(long offset, int length) {
        ByteBuffer b = ByteBuffer.allocate(length);
        for (long at = offset; b.remaining() >= 8; at += 8) {
            b.putLong(at * 31 + 7);
        }
        return b.array();
    }

    /** One connection served by a script on a virtual thread; closing ends both. */
    private static final class FakeServer implements AutoCloseable {
        interface Script {
            void run(DataInputStream in, DataOutputStream out) throws Exception;
        }

        private final ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        private final Thread thread;
        private final java.util.concurrent.atomic.AtomicInteger requests =
                new java.util.concurrent.atomic.AtomicInteger();
        private volatile Socket socket;
        private volatile Throwable error;
        private static final ThreadLocal<FakeServer> CURRENT = new ThreadLocal<>();

        FakeServer(Script script) throws IOException {
            thread = Thread.ofVirtual().name("fake-nbd-server").start(() -> {
                CURRENT.set(this);
                try (Socket s = listener.accept()) {
                    socket = s;
                    script.run(
                            new DataInputStream(new BufferedInputStream(s.getInputStream())),
                            new DataOutputStream(s.getOutputStream()));
                } catch (Throwable t) {
                    error = t;
                }
            });
        }

        String url(String export) {
            return "nbd://127.0.0.1:" + listener.getLocalPort() + "/" + export;
        }

        /** Waits until the script has read {@code n} requests. */
        void awaitRequests(int n) {
            org.awaitility.Awaitility.await().until(() -> requests.get() >= n);
        }

        /** The script ran to its end without failing. */
        void check() throws Exception {
            if (!thread.join(java.time.Duration.ofSeconds(30))) {
                throw new AssertionError("the scripted server did not finish");
            }
            if (error != null) {
                throw new AssertionError("the scripted server failed", error);
            }
        }

        @Override
        public void close() throws Exception {
            listener.close();
            Socket s = socket;
            if (s != null) {
                s.close();
            }
            thread.join(TimeUnit.SECONDS.toMillis(30));
        }

        static void greet(DataInputStream in, DataOutputStream out) throws IOException {
            out.writeLong(Protocol.NBDMAGIC);
            out.writeLong(Protocol.IHAVEOPT);
            out.writeShort(Protocol.FLAG_FIXED_NEWSTYLE | Protocol.FLAG_NO_ZEROES);
            out.flush();
            assertThat(in.readInt()).isEqualTo(Protocol.FLAG_C_FIXED_NEWSTYLE | Protocol.FLAG_C_NO_ZEROES);
        }

        /** An option: its number and its data's length (the data is read and dropped). */
        static long[] readOption(DataInputStream in) throws IOException {
            assertThat(in.readLong()).isEqualTo(Protocol.IHAVEOPT);
            int option = in.readInt();
            int length = in.readInt();
            in.skipNBytes(length);
            return new long[] {option, length};
        }

        static void optionReply(DataOutputStream out, int option, int type, byte[] data) throws IOException {
            out.writeLong(Protocol.OPTION_REPLY_MAGIC);
            out.writeInt(option);
            out.writeInt(type);
            out.writeInt(data.length);
            out.write(data);
            out.flush();
        }

        static void handshakeGo(DataInputStream in, DataOutputStream out, long size, int flags) throws IOException {
            greet(in, out);
            assertThat(readOption(in)[0]).isEqualTo(Protocol.OPT_GO);
            optionReply(
                    out,
                    Protocol.OPT_GO,
                    Protocol.REP_INFO,
                    ByteBuffer.allocate(12)
                            .putShort((short) Protocol.INFO_EXPORT)
                            .putLong(size)
                            .putShort((short) flags)
                            .array());
            optionReply(out, Protocol.OPT_GO, Protocol.REP_ACK, new byte[0]);
        }

        /** A request's header: type, handle, offset, length (a WRITE's payload is left to read). */
        static long[] readRequest(DataInputStream in) throws IOException {
            assertThat(in.readInt()).isEqualTo(Protocol.REQUEST_MAGIC);
            in.readUnsignedShort();
            int type = in.readUnsignedShort();
            long handle = in.readLong();
            long offset = in.readLong();
            long length = Integer.toUnsignedLong(in.readInt());
            CURRENT.get().requests.incrementAndGet();
            return new long[] {type, handle, offset, length};
        }

        static void reply(DataOutputStream out, long handle, int error) throws IOException {
            out.writeInt(Protocol.SIMPLE_REPLY_MAGIC);
            out.writeInt(error);
            out.writeLong(handle);
        }

        static void expectDisc(DataInputStream in) throws IOException {
            assertThat(readRequest(in)[0]).isEqualTo(Protocol.CMD_DISC);
            assertThat(in.read()).isEqualTo(-1); // the client shut its side
        }
    }
}
