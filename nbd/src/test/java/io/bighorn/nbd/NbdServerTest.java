package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.bighorn.dataplane.replica.ReplicaDevice;
import io.bighorn.nbd.RawClient.OptionReply;
import io.bighorn.nbd.RawClient.Reply;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The server against a raw-bytes client and a real replica: negotiation, commands, errors. */
class NbdServerTest {
    private static final long SIZE = 16L << 20;

    private Path dir;
    private ReplicaDevice device;
    private NbdServer server;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("nbd-server-test");
        device = TestVolumes.create(dir.resolve("vol0"), SIZE);
        server = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "test volume", device)));
    }

    @AfterEach
    void tearDown() throws Exception {
        TestVolumes.tearDown(server, device, dir);
    }

    private RawClient client() throws Exception {
        return new RawClient(server.port()).greet();
    }

    @Test
    void listsExportsAndAnswersInfo() throws Exception {
        try (RawClient c = client()) {
            List<OptionReply> list = c.option(Protocol.OPT_LIST, new byte[0]);
            assertThat(list).hasSize(2);
            assertThat(list.get(0).type()).isEqualTo(Protocol.REP_SERVER);
            ByteBuffer d = ByteBuffer.wrap(list.get(0).data());
            byte[] name = new byte[d.getInt()];
            d.get(name);
            assertThat(new String(name, StandardCharsets.UTF_8)).isEqualTo("vol0");

            List<OptionReply> info = c.option(
                    Protocol.OPT_INFO,
                    RawClient.infoData(
                            "vol0", Protocol.INFO_NAME, Protocol.INFO_DESCRIPTION, Protocol.INFO_BLOCK_SIZE));
            Map<Integer, ByteBuffer> items = new HashMap<>();
            for (OptionReply r : info.subList(0, info.size() - 1)) {
                assertThat(r.type()).isEqualTo(Protocol.REP_INFO);
                ByteBuffer b = ByteBuffer.wrap(r.data());
                items.put((int) b.getShort(), b);
            }
            assertThat(info.getLast().type()).isEqualTo(Protocol.REP_ACK);
            assertThat(items.get(Protocol.INFO_EXPORT).getLong()).isEqualTo(SIZE);
            int flags = Short.toUnsignedInt(items.get(Protocol.INFO_EXPORT).getShort());
            assertThat(flags)
                    .isEqualTo(Protocol.FLAG_HAS_FLAGS
                            | Protocol.FLAG_SEND_FLUSH
                            | Protocol.FLAG_SEND_FUA
                            | Protocol.FLAG_SEND_TRIM
                            | Protocol.FLAG_SEND_WRITE_ZEROES
                            | Protocol.FLAG_SEND_CACHE
                            | Protocol.FLAG_CAN_MULTI_CONN);
            assertThat(StandardCharsets.UTF_8
                            .decode(items.get(Protocol.INFO_NAME))
                            .toString())
                    .isEqualTo("vol0");
            assertThat(StandardCharsets.UTF_8
                            .decode(items.get(Protocol.INFO_DESCRIPTION))
                            .toString())
                    .isEqualTo("test volume");
            ByteBuffer bs = items.get(Protocol.INFO_BLOCK_SIZE);
            assertThat(new int[] {bs.getInt(), bs.getInt(), bs.getInt()}).containsExactly(512, 4096, 32 << 20);

            assertThat(c.option(Protocol.OPT_INFO, RawClient.infoData("nope"))
                            .getLast()
                            .type())
                    .isEqualTo(Protocol.REP_ERR_UNKNOWN);
            assertThat(c.option(Protocol.OPT_STARTTLS, new byte[0]).getLast().type())
                    .isEqualTo(Protocol.REP_ERR_UNSUP);
            assertThat(c.option(99, new byte[] {1, 2, 3}).getLast().type()).isEqualTo(Protocol.REP_ERR_UNSUP);
            // Meta contexts need structured replies first.
            assertThat(c.option(Protocol.OPT_SET_META_CONTEXT, RawClient.metaData("vol0", "base:allocation"))
                            .getLast()
                            .type())
                    .isEqualTo(Protocol.REP_ERR_INVALID);
            assertThat(c.option(Protocol.OPT_STRUCTURED_REPLY, new byte[0])
                            .getLast()
                            .type())
                    .isEqualTo(Protocol.REP_ACK);
            List<OptionReply> listed = c.option(Protocol.OPT_LIST_META_CONTEXT, RawClient.metaData("vol0"));
            assertThat(listed)
                    .extracting(OptionReply::type)
                    .containsExactly(Protocol.REP_META_CONTEXT, Protocol.REP_ACK);
            List<OptionReply> set =
                    c.option(Protocol.OPT_SET_META_CONTEXT, RawClient.metaData("vol0", "base:allocation", "x-y:z"));
            assertThat(set).extracting(OptionReply::type).containsExactly(Protocol.REP_META_CONTEXT, Protocol.REP_ACK);
            assertThat(new String(set.get(0).data(), 4, set.get(0).data().length - 4, StandardCharsets.UTF_8))
                    .isEqualTo("base:allocation");
            assertThat(c.option(Protocol.OPT_ABORT, new byte[0]).getLast().type())
                    .isEqualTo(Protocol.REP_ACK);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void readsWritesFlushesTrimsAndZeroes() throws Exception {
        for (boolean structured : new boolean[] {false, true}) {
            try (RawClient c = client().go("vol0", structured, false)) {
                assertThat(c.size).isEqualTo(SIZE);
                byte[] data = random(64 << 10, structured ? 1 : 2);
                assertThat(c.call(Protocol.CMD_FLAG_FUA, Protocol.CMD_WRITE, 1 << 20, data.length, data)
                                .error())
                        .isZero();
                Reply read = c.call(0, Protocol.CMD_READ, 1 << 20, data.length, null);
                assertThat(read.error()).isZero();
                assertThat(read.data()).isEqualTo(data);
                assertThat(c.call(0, Protocol.CMD_FLUSH, 0, 0, null).error()).isZero();
                assertThat(c.call(0, Protocol.CMD_CACHE, 0, 4096, null).error()).isZero();
                assertThat(c.call(0, Protocol.CMD_TRIM, 1 << 20, 4096, null).error())
                        .isZero();
                assertThat(c.call(Protocol.CMD_FLAG_NO_HOLE, Protocol.CMD_WRITE_ZEROES, (1 << 20) + 4096, 4096, null)
                                .error())
                        .isZero();
                byte[] expected = data.clone();
                Arrays.fill(expected, 0, 8192, (byte) 0);
                assertThat(c.call(0, Protocol.CMD_READ, 1 << 20, data.length, null)
                                .data())
                        .isEqualTo(expected);
                c.send(0, Protocol.CMD_DISC, 1, 0, 0, null);
                assertThat(c.closedByServer()).isTrue();
            }
        }
    }

    @Test
    void refusesBadRequestsBeforeTouchingTheDevice() throws Exception {
        try (RawClient c = client().go("vol0", true, false)) {
            byte[] data = random(4096, 3);
            // Past the end: a write gets ENOSPC, a read EINVAL; misaligned and unknown: EINVAL.
            assertThat(c.call(0, Protocol.CMD_WRITE, SIZE - 512, 4096, data).error())
                    .isEqualTo(Protocol.ENOSPC);
            assertThat(c.call(0, Protocol.CMD_READ, SIZE, 512, null).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.call(0, Protocol.CMD_READ, -512, 512, null).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.call(0, Protocol.CMD_WRITE, 100, 4096, data).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.call(0, Protocol.CMD_TRIM, 0, 100, null).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.call(0, 42, 0, 0, null).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.call(1 << 9, Protocol.CMD_READ, 0, 512, null).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.call(0, Protocol.CMD_BLOCK_STATUS, 0, 4096, null).error())
                    .isEqualTo(Protocol.EINVAL);
            // A read over the maximum payload is refused and the session goes on.
            assertThat(c.call(0, Protocol.CMD_READ, 0, (32 << 20) + 512, null).error())
                    .isEqualTo(Protocol.EINVAL);
            assertThat(c.call(0, Protocol.CMD_READ, 0, 512, null).error()).isZero();
            assertThat(device.extents(0, SIZE))
                    .singleElement()
                    .satisfies(e -> assertThat(e.allocated()).isFalse());
            // A write over the maximum: error, then the server hangs up (its payload cannot be skipped).
            c.send(0, Protocol.CMD_WRITE, 9, 0, (32 << 20) + 512, null);
            assertThat(c.read(0).error()).isEqualTo(Protocol.EINVAL);
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawClient c = client().go("vol0", false, false)) {
            assertThat(c.call(0, Protocol.CMD_READ, 0, 512, null).error()).isZero();
        }
    }

    @Test
    void reportsBlockStatusFromTheDeviceExtents() throws Exception {
        try (RawClient c = client().go("vol0", true, true)) {
            byte[] data = random(64 << 10, 4);
            assertThat(c.call(0, Protocol.CMD_WRITE, 1 << 20, data.length, data).error())
                    .isZero();
            Reply status = c.call(0, Protocol.CMD_BLOCK_STATUS, 0, 4 << 20, null);
            assertThat(status.error()).isZero();
            int hole = Protocol.STATE_HOLE | Protocol.STATE_ZERO;
            assertThat(status.descriptors()).containsExactly(1 << 20, hole, 64 << 10, 0, (3 << 20) - (64 << 10), hole);
            Reply one = c.call(Protocol.CMD_FLAG_REQ_ONE, Protocol.CMD_BLOCK_STATUS, 1 << 20, 1 << 21, null);
            assertThat(one.descriptors()).containsExactly(64 << 10, 0);
        }
    }

    @Test
    void badMagicEndsOnlyThatSessionAndCountsClients() throws Exception {
        try (RawClient good = client().go("vol0", false, false)) {
            await().atMost(Duration.ofSeconds(5)).until(() -> server.clients("vol0") == 1);
            try (RawClient bad = client().go("vol0", false, false)) {
                await().atMost(Duration.ofSeconds(5)).until(() -> server.clients("vol0") == 2);
                bad.out.write(new byte[28]);
                bad.out.flush();
                assertThat(bad.closedByServer()).isTrue();
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> server.clients("vol0") == 1);
            assertThat(good.call(0, Protocol.CMD_READ, 0, 4096, null).error()).isZero();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> server.clients("vol0") == 0);
    }

    @Test
    void exportNameOptionAndUnknownExport() throws Exception {
        try (RawClient c = client()) {
            c.sendOption(Protocol.OPT_EXPORT_NAME, "vol0".getBytes(StandardCharsets.UTF_8));
            assertThat(c.in.readLong()).isEqualTo(SIZE);
            c.in.readUnsignedShort(); // flags; no zeroes follow (NO_ZEROES was negotiated)
            assertThat(c.call(0, Protocol.CMD_READ, 0, 512, null).data()).hasSize(512);
        }
        try (RawClient c = client()) {
            c.sendOption(Protocol.OPT_EXPORT_NAME, "nope".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void sizeIsReadAtEachHandshake() throws Exception {
        try (RawClient before = client().go("vol0", false, false)) {
            device.replica().expand(2 * SIZE);
            try (RawClient after = client().go("vol0", false, false)) {
                assertThat(before.size).isEqualTo(SIZE);
                assertThat(after.size).isEqualTo(2 * SIZE);
                assertThat(after.call(0, Protocol.CMD_READ, 2 * SIZE - 512, 512, null)
                                .error())
                        .isZero();
                assertThat(before.call(0, Protocol.CMD_READ, 2 * SIZE - 512, 512, null)
                                .error())
                        .isEqualTo(Protocol.EINVAL);
            }
        }
    }

    @Test
    void pipelinedRequestsAllComplete() throws Exception {
        try (RawClient c = client().go("vol0", true, false)) {
            int n = 500;
            Map<Long, byte[]> written = new HashMap<>();
            for (long h = 0; h < n; h++) {
                byte[] data = random(4096, (int) h);
                written.put(h, data);
                c.send(0, Protocol.CMD_WRITE, h, h * 4096, 4096, data);
            }
            for (int i = 0; i < n; i++) {
                Reply r = c.read(0);
                assertThat(r.error()).isZero();
                assertThat(written.remove(r.handle())).isNotNull();
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(4096);
                device.read(499 * 4096L, seg);
                assertThat(seg.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(random(4096, 499));
            }
        }
    }

    @Test
    void aClientThatReadsLateGetsEveryReplyWholeAndStallsNoOne() throws Exception {
        byte[] pattern = random(1 << 20, 42);
        try (RawClient writer = client().go("vol0", true, false)) {
            for (int i = 0; i < 8; i++) {
                assertThat(writer.call(0, Protocol.CMD_WRITE, i * (1L << 20), 1 << 20, pattern)
                                .error())
                        .isZero();
            }
        }
        int reads = 48; // 48 MiB of replies: far more than a socket buffer holds
        try (RawClient slow = client().go("vol0", true, false);
                RawClient gone = client().go("vol0", false, false);
                RawClient other = client().go("vol0", true, false)) {
            for (long h = 0; h < reads; h++) {
                slow.send(0, Protocol.CMD_READ, h, (h % 8) << 20, 1 << 20, null);
                gone.send(0, Protocol.CMD_READ, h, (h % 8) << 20, 1 << 20, null);
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> server.replyStalls() > 0);
            gone.close(); // leaves with its replies unread: the server drops them and frees their buffers
            for (int k = 0; k < 16; k++) { // meanwhile another client is served as usual
                Reply r = other.call(0, Protocol.CMD_READ, (k % 8) << 20, 4096, null);
                assertThat(r.error()).isZero();
                assertThat(r.data()).isEqualTo(Arrays.copyOf(pattern, 4096));
            }
            for (int i = 0; i < reads; i++) {
                Reply r = slow.read(1 << 20);
                assertThat(r.error()).isZero();
                assertThat(r.data()).isEqualTo(pattern);
            }
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> server.clients("vol0") == 0);
        assertThat(server.unexpectedErrors()).isZero();
    }

    @Test
    void servesManyClientsAtOnce() throws Exception {
        int clients = 16;
        List<Thread> threads = new ArrayList<>();
        Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < clients; i++) {
            int id = i;
            threads.add(Thread.ofVirtual().start(() -> {
                try (RawClient c = client().go("vol0", id % 2 == 0, false)) {
                    long base = id * (SIZE / clients);
                    for (int k = 0; k < 32; k++) {
                        byte[] data = random(4096, id * 100 + k);
                        c.send(0, Protocol.CMD_WRITE, k, base + k * 4096L, 4096, data);
                    }
                    for (int k = 0; k < 32; k++) {
                        assertThat(c.read(0).error()).isZero();
                    }
                    for (int k = 0; k < 32; k++) {
                        Reply r = c.call(0, Protocol.CMD_READ, base + k * 4096L, 4096, null);
                        assertThat(r.data()).isEqualTo(random(4096, id * 100 + k));
                    }
                } catch (Exception | AssertionError e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(failures).isEmpty();
        await().atMost(Duration.ofSeconds(5)).until(() -> server.clients("vol0") == 0);
    }

    static byte[] random(int n, int seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
