package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import io.bighorn.dataplane.blockdev.BlockDevice.Extent;
import io.bighorn.dataplane.replica.ReplicaDevice;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Random and mutated-valid byte streams against the handshake and the transmission phase. Every case must
 * end (the server closes its side) within a deadline, nothing may throw out of the server, no device call
 * may reach outside the export, and the server must still serve a good client afterwards.
 */
class NbdFuzzTest {
    private static final long SIZE = 8L << 20;
    private static final long GUARD = 1L << 20;
    private static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(4);
    private static final int MAX_CASES = 20_000;
    private static final int CASE_TIMEOUT_MS = 5_000;

    private Path dir;
    private ReplicaDevice inner;
    private CheckingDevice device;
    private NbdServer server;
    private final Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();
    private Thread.UncaughtExceptionHandler previousHandler;

    private final List<ch.qos.logback.classic.Logger> serverLogs = Stream.of(
                    Connection.class, Handshake.class, NbdServer.class)
            .map(c -> (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(c))
            .toList();
    private final List<Level> previousLevels = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        // Thousands of refused sessions: keep errors (unexpected exceptions) visible, not the routine WARNs.
        for (ch.qos.logback.classic.Logger log : serverLogs) {
            previousLevels.add(log.getLevel());
            log.setLevel(Level.ERROR);
        }
        previousHandler = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> escaped.add(e));
        dir = Files.createTempDirectory("nbd-fuzz");
        inner = TestVolumes.create(dir.resolve("vol0"), SIZE + GUARD);
        device = new CheckingDevice(inner, SIZE);
        server = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "fuzz", device)));
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (server != null) {
                server.close();
            }
            if (inner != null) {
                inner.close();
            }
            TestVolumes.delete(dir);
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(previousHandler);
            for (int i = 0; i < previousLevels.size(); i++) {
                serverLogs.get(i).setLevel(previousLevels.get(i));
            }
        }
    }

    @Test
    void survivesRandomAndMutatedStreams() throws Exception {
        AtomicInteger cases = new AtomicInteger();
        Queue<String> failures = new ConcurrentLinkedQueue<>();
        long deadline = System.nanoTime() + BUDGET_NANOS;
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
            long seed = 1000L * w + System.nanoTime() % 1000;
            workers.add(Thread.ofPlatform().name("fuzz-" + w).start(() -> {
                Random random = new Random(seed);
                while (System.nanoTime() < deadline && cases.incrementAndGet() <= MAX_CASES && failures.isEmpty()) {
                    byte[] stream = generate(random);
                    try {
                        runCase(stream);
                    } catch (IOException | RuntimeException e) {
                        failures.add("case (seed " + seed + ") failed: " + e);
                    }
                }
            }));
        }
        for (Thread t : workers) {
            t.join();
        }
        assertThat(failures).isEmpty();
        LoggerFactory.getLogger(NbdFuzzTest.class).info("{} fuzz cases run", Math.min(cases.get(), MAX_CASES));
        assertThat(cases.get()).isGreaterThan(1000);
        assertThat(escaped).isEmpty();
        assertThat(server.unexpectedErrors()).isZero();
        assertThat(device.violations).isEmpty();
        assertThat(inner.extents(SIZE, GUARD))
                .allSatisfy(e -> assertThat(e.allocated())
                        .as("nothing written past the export's end")
                        .isFalse());

        // A fresh, well-behaved client is still served.
        try (RawClient c = new RawClient(server.port()).greet().go("vol0", true, true)) {
            byte[] data = NbdServerTest.random(8192, 5);
            assertThat(c.call(0, Protocol.CMD_WRITE, 4096, data.length, data).error())
                    .isZero();
            assertThat(c.call(0, Protocol.CMD_READ, 4096, data.length, null).data())
                    .isEqualTo(data);
        }
        List<Extent> guard = inner.extents(SIZE, GUARD);
        assertThat(guard)
                .singleElement()
                .satisfies(e -> assertThat(e.allocated()).isFalse());
    }

    /** Sends the stream, half-closes, and reads until the server closes; fails past the deadline. */
    private void runCase(byte[] stream) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            s.setSoTimeout(CASE_TIMEOUT_MS);
            InputStream in = s.getInputStream();
            long start = System.nanoTime();
            Thread drain = Thread.ofVirtual().start(() -> {
                byte[] buf = new byte[64 << 10];
                try {
                    while (in.read(buf) >= 0) {
                        // replies are not checked here
                    }
                } catch (IOException e) {
                    // reset or timeout: the join below decides
                }
            });
            try {
                OutputStream out = s.getOutputStream();
                out.write(stream);
                out.flush();
                s.shutdownOutput();
            } catch (IOException e) {
                // the server may hang up before reading everything
            }
            try {
                if (!drain.join(Duration.ofMillis(CASE_TIMEOUT_MS))) {
                    throw new IOException("server did not close within " + CASE_TIMEOUT_MS + " ms");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            if (System.nanoTime() - start > TimeUnit.MILLISECONDS.toNanos(CASE_TIMEOUT_MS)) {
                throw new IOException("case took longer than " + CASE_TIMEOUT_MS + " ms");
            }
        }
    }

    // ---- generation ----

    private static byte[] generate(Random r) {
        return switch (r.nextInt(4)) {
            case 0 -> randomBytes(r, r.nextInt(300));
            case 1 -> mutate(r, handshake(r));
            case 2 -> concat(handshake(r), requests(r));
            default -> {
                byte[] h = handshake(r);
                byte[] all = concat(h, requests(r));
                yield mutate(r, all, h.length);
            }
        };
    }

    /** A valid client handshake: flags, then some options, ending with GO or EXPORT_NAME on vol0. */
    private static byte[] handshake(Random r) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(r.nextInt(4));
            boolean structured = r.nextBoolean();
            if (structured) {
                option(out, Protocol.OPT_STRUCTURED_REPLY, new byte[0]);
                if (r.nextBoolean()) {
                    option(out, Protocol.OPT_SET_META_CONTEXT, RawClient.metaData("vol0", Protocol.BASE_ALLOCATION));
                }
            }
            if (r.nextInt(4) == 0) {
                option(out, Protocol.OPT_LIST, new byte[0]);
            }
            if (r.nextInt(4) == 0) {
                option(out, Protocol.OPT_INFO, RawClient.infoData("vol0", 0, 1, 2, 3));
            }
            if (r.nextInt(4) == 0) {
                option(out, Protocol.OPT_LIST_META_CONTEXT, RawClient.metaData("vol0"));
            }
            if (r.nextInt(3) == 0) {
                option(out, Protocol.OPT_EXPORT_NAME, "vol0".getBytes(StandardCharsets.UTF_8));
            } else {
                option(out, Protocol.OPT_GO, RawClient.infoData("vol0", Protocol.INFO_BLOCK_SIZE));
            }
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void option(DataOutputStream out, int option, byte[] data) throws IOException {
        out.writeLong(Protocol.IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
    }

    private static final long[] OFFSETS = {
        0, 4096, SIZE - 4096, SIZE - 512, SIZE, SIZE + 512, SIZE + GUARD - 4096, 100, -512, Long.MIN_VALUE, -1
    };
    private static final long[] LENGTHS = {0, 512, 4096, 65536, 100, 0xffffffffL, (32 << 20) + 512, GUARD};

    /** A few requests, mostly near the export's end, valid or not. */
    private static byte[] requests(Random r) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            int n = 1 + r.nextInt(12);
            for (int i = 0; i < n; i++) {
                int type = r.nextInt(10) == 0 ? r.nextInt(65536) : r.nextInt(8);
                int flags = r.nextInt(3) == 0 ? r.nextInt(65536) : r.nextInt(2);
                long offset = r.nextBoolean() ? OFFSETS[r.nextInt(OFFSETS.length)] : (r.nextLong(SIZE) & ~511L);
                long length = r.nextBoolean() ? LENGTHS[r.nextInt(LENGTHS.length)] : 512L * (1 + r.nextInt(16));
                out.writeInt(Protocol.REQUEST_MAGIC);
                out.writeShort(flags);
                out.writeShort(type);
                out.writeLong(r.nextLong());
                out.writeLong(offset);
                out.writeInt((int) length);
                if (type == Protocol.CMD_WRITE) {
                    // Whole payloads when small; otherwise a truncated one (the stream ends inside it).
                    out.write(randomBytes(r, (int) Math.min(length, r.nextBoolean() ? 65536 : r.nextInt(1024))));
                }
            }
            if (r.nextBoolean()) {
                out.writeInt(Protocol.REQUEST_MAGIC);
                out.writeShort(0);
                out.writeShort(Protocol.CMD_DISC);
                out.writeLong(0);
                out.writeLong(0);
                out.writeInt(0);
            }
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] mutate(Random r, byte[] valid) {
        return mutate(r, valid, 0);
    }

    /** Flips, overwrites, inserts, deletes or truncates bytes at or after {@code from}. */
    private static byte[] mutate(Random r, byte[] valid, int from) {
        byte[] b = valid.clone();
        if (b.length <= from) {
            return b;
        }
        int edits = 1 + r.nextInt(4);
        for (int i = 0; i < edits && b.length > from; i++) {
            int at = from + r.nextInt(b.length - from);
            switch (r.nextInt(5)) {
                case 0 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 1 -> b[at] = (byte) r.nextInt(256);
                case 2 ->
                    b = concat(
                            concat(Arrays.copyOf(b, at), randomBytes(r, 1 + r.nextInt(8))),
                            Arrays.copyOfRange(b, at, b.length));
                case 3 ->
                    b = concat(
                            Arrays.copyOf(b, at),
                            Arrays.copyOfRange(b, Math.min(b.length, at + 1 + r.nextInt(8)), b.length));
                default -> b = Arrays.copyOf(b, at);
            }
        }
        return b;
    }

    private static byte[] randomBytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
