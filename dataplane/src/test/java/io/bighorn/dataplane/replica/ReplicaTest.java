package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicaTest {
    private static final long MiB = 1 << 20;

    @TempDir
    Path tmp;

    @Test
    void outOfRangeAndMisalignedIoFailsAndChangesNothing() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), 4 * MiB)) {
            r.write(1, 0, filled(4096, 7));
            byte[] before = readAll(r);
            assertThatThrownBy(() -> r.write(1, 4 * MiB - 512, filled(1024, 1)))
                    .isInstanceOf(OutOfRangeException.class)
                    .hasMessageContaining("outside the device");
            assertThatThrownBy(() -> r.write(1, -512, filled(512, 1))).isInstanceOf(OutOfRangeException.class);
            assertThatThrownBy(() -> r.write(1, 100, filled(512, 1)))
                    .isInstanceOf(OutOfRangeException.class)
                    .hasMessageContaining("aligned");
            assertThatThrownBy(() -> r.write(1, 0, filled(100, 1))).isInstanceOf(OutOfRangeException.class);
            assertThatThrownBy(() -> r.read(4 * MiB, ByteBuffer.allocate(512))).isInstanceOf(OutOfRangeException.class);
            assertThatThrownBy(() -> r.trim(1, 4 * MiB - 4096, 8192)).isInstanceOf(OutOfRangeException.class);
            assertThatThrownBy(() -> r.writeZeroes(1, Long.MAX_VALUE - 511, 1024))
                    .isInstanceOf(OutOfRangeException.class);
            assertThat(readAll(r)).isEqualTo(before);
            assertThat(r.revision()).isEqualTo(1);
        }
    }

    @Test
    void badSizesAreRefused() throws IOException {
        assertThatThrownBy(() -> Replica.create(tmp.resolve("a"), 0)).hasMessageContaining("invalid volume size 0");
        assertThatThrownBy(() -> Replica.create(tmp.resolve("b"), 4097)).hasMessageContaining("multiple of 4096");
        try (Replica r = Replica.create(tmp.resolve("c"), MiB)) {
            assertThatThrownBy(() -> r.expand(MiB / 2)).hasMessageContaining("cannot shrink");
            assertThatThrownBy(() -> r.expand(MiB + 512)).hasMessageContaining("multiple of 4096");
            assertThat(r.size()).isEqualTo(MiB);
        }
        assertThatThrownBy(() -> Replica.create(tmp.resolve("c"), MiB))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining("a replica already exists");
    }

    @Test
    void snapshotNamesAreValidated() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), MiB)) {
            for (String bad : List.of("", "Upper", "-dash", ".dot", "a/b", "a b", "x".repeat(64), "volume-head")) {
                assertThatThrownBy(() -> r.snapshot(bad, true, Map.of()))
                        .as(bad)
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining(bad.isEmpty() ? "invalid snapshot name" : bad);
            }
            assertThatThrownBy(() -> r.snapshot(null, true, Map.of())).hasMessageContaining("invalid snapshot name");
            r.snapshot("a".repeat(63), true, Map.of());
            r.snapshot("s1", true, Map.of());
            assertThatThrownBy(() -> r.snapshot("s1", true, Map.of()))
                    .isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("already exists");
            assertThatThrownBy(() -> r.deleteSnapshot("nope"))
                    .isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("no snapshot named 'nope'");
            assertThatThrownBy(() -> r.revert("nope")).hasMessageContaining("no snapshot named 'nope'");
            r.deleteSnapshot("s1");
            assertThatThrownBy(() -> r.revert("s1")).hasMessageContaining("is removed");
            assertThat(r.snapshots()).hasSize(2);
        }
    }

    @Test
    void snapshotListShowsTheTree() throws IOException {
        Clock clock = Clock.fixed(Instant.parse("2026-11-22T10:00:00Z"), ZoneOffset.UTC);
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB, clock)) {
            r.write(1, 0, filled(8192, 1));
            r.snapshot("a", true, Map.of("app", "db"));
            r.write(1, 8192, filled(4096, 2));
            r.snapshot("b", false, Map.of());
            r.revert("a");
            r.write(1, 0, filled(4096, 3));
            r.snapshot("c", true, Map.of());
        }
        try (Replica r = Replica.open(dir)) {
            Map<String, SnapshotInfo> byName = new java.util.HashMap<>();
            r.snapshots().forEach(s -> byName.put(s.name(), s));
            assertThat(byName.get("a").parent()).isNull();
            assertThat(byName.get("a").children()).containsExactlyInAnyOrder("b", "c");
            assertThat(byName.get("a").labels()).containsEntry("app", "db");
            assertThat(byName.get("a").created()).isEqualTo(Instant.parse("2026-11-22T10:00:00Z"));
            assertThat(byName.get("a").allocatedBytes()).isEqualTo(8192);
            assertThat(byName.get("b").userCreated()).isFalse();
            assertThat(byName.get("b").children()).isEmpty();
            assertThat(byName.get("c").children()).containsExactly(Replica.HEAD_NAME);
            assertThat(r.info().chain()).containsExactly("a", "c", Replica.HEAD_NAME);
            // the head holds nothing yet; reads come from c and a
            byte[] all = readAll(r);
            assertThat(all[0]).isEqualTo((byte) 3);
            assertThat(all[4096]).isEqualTo((byte) 1);
            assertThat(all[8192]).isZero();
        }
    }

    @Test
    void epochsOnlyGoUpAndSurviveReopen() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            assertThat(r.epoch()).isZero();
            r.acceptEpoch(5);
            r.write(5, 0, filled(4096, 1));
            assertThatThrownBy(() -> r.write(4, 0, filled(4096, 2)))
                    .isInstanceOf(StaleEpochException.class)
                    .hasMessageContaining("stale epoch 4")
                    .hasMessageContaining("accepted epoch 5");
            assertThatThrownBy(() -> r.trim(4, 0, 4096)).isInstanceOf(StaleEpochException.class);
            assertThatThrownBy(() -> r.acceptEpoch(3)).isInstanceOf(StaleEpochException.class);
            assertThat(readAll(r)[0]).isEqualTo((byte) 1);
            r.write(7, 4096, filled(4096, 3)); // a higher epoch is accepted on first use
            assertThat(r.epoch()).isEqualTo(7);
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(r.epoch()).isEqualTo(7);
            assertThatThrownBy(() -> r.write(6, 0, filled(4096, 2))).isInstanceOf(StaleEpochException.class);
        }
    }

    @Test
    void revisionCounterIsDurableAtFlush() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            for (int i = 0; i < 10; i++) {
                r.write(1, i * 4096L, filled(4096, i));
            }
            r.trim(1, 0, 4096);
            r.flush();
            assertThat(r.revision()).isEqualTo(11);
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(r.revision()).isEqualTo(11);
        }
    }

    @Test
    void corruptOrMissingMetadataIsNamed() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            r.snapshot("a", true, Map.of());
        }
        Path volume = dir.resolve("volume.json");
        byte[] good = Files.readAllBytes(volume);
        Files.writeString(volume, "{not json");
        assertThatThrownBy(() -> Replica.open(dir))
                .isInstanceOf(CorruptMetadataException.class)
                .hasMessageContaining(volume.toString());
        Files.delete(volume);
        assertThatThrownBy(() -> Replica.open(dir))
                .isInstanceOf(CorruptMetadataException.class)
                .hasMessageContaining("volume.json: missing");
        Files.write(volume, good);
        Path layerMeta;
        try (var files = Files.list(dir)) {
            layerMeta = files.filter(p -> p.getFileName().toString().matches("layer-\\d+\\.json"))
                    .findFirst()
                    .orElseThrow();
        }
        byte[] layerGood = Files.readAllBytes(layerMeta);
        Files.write(layerMeta, new byte[0]);
        assertThatThrownBy(() -> Replica.open(dir)).hasMessageContaining(layerMeta.toString());
        Files.write(layerMeta, layerGood);
        Files.writeString(dir.resolve("revision.counter"), "garbage");
        assertThatThrownBy(() -> Replica.open(dir)).hasMessageContaining("revision.counter");
        assertThatThrownBy(() -> Replica.open(tmp.resolve("none"))).hasMessageContaining("not a directory");
    }

    @Test
    void aReplicaIsOpenedByOneWriterButReadOnlyBesideIt() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            r.write(1, 0, filled(4096, 9));
            r.flush();
            assertThatThrownBy(() -> Replica.open(dir)).hasMessageContaining("already open");
            try (Replica ro = Replica.open(dir, true, Clock.systemUTC())) {
                assertThat(readAll(ro)[0]).isEqualTo((byte) 9);
                assertThatThrownBy(() -> ro.write(1, 0, filled(4096, 1))).hasMessageContaining("read-only");
                assertThatThrownBy(() -> ro.snapshot("x", true, Map.of())).hasMessageContaining("read-only");
            }
        }
    }

    @Test
    void leftoversOfAnInterruptedOperationAreDeletedAtOpen() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            r.write(1, 0, filled(4096, 5));
        }
        Files.writeString(dir.resolve("layer-000099.json"), "{}");
        Files.writeString(dir.resolve("layer-000099.img"), "x");
        Files.writeString(dir.resolve("volume.json.tmp"), "{");
        try (Replica r = Replica.open(dir)) {
            assertThat(readAll(r)[0]).isEqualTo((byte) 5);
        }
        assertThat(dir.resolve("layer-000099.img")).doesNotExist();
        assertThat(dir.resolve("volume.json.tmp")).doesNotExist();
    }

    @Test
    void trimPunchesTheHeadOnlyWhereNothingBelowHoldsData() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), MiB)) {
            r.write(1, 0, filled(64 * 1024, 1));
            r.snapshot("a", true, Map.of());
            r.write(1, 64 * 1024, filled(64 * 1024, 2));
            r.trim(1, 0, 128 * 1024);
            byte[] all = readAll(r);
            assertThat(all).containsOnly(0);
            ReplicaInfo info = r.info();
            ReplicaInfo.LayerInfo head = info.layers().stream()
                    .filter(ReplicaInfo.LayerInfo::head)
                    .findFirst()
                    .orElseThrow();
            // zeros written over a's 64 KiB; the 64 KiB only the head held was punched
            assertThat(head.allocatedBytes()).isEqualTo(64 * 1024);
        }
    }

    @Test
    void concurrentUnalignedWritesToSharedBlocksAllLand() throws Exception {
        try (Replica r = Replica.create(tmp.resolve("r"), MiB)) {
            r.write(1, 0, filled(256 * 1024, 0x55));
            r.snapshot("base", true, Map.of()); // partial writes now need read-modify-write from below
            int threads = 8;
            try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int id = t;
                    futures.add(pool.submit(() -> {
                        // thread t owns sector t of every 4 KiB block of the first 256 KiB
                        for (int b = 0; b < 64; b++) {
                            r.write(1, b * 4096L + id * 512L, filled(512, id + 1));
                        }
                        return null;
                    }));
                }
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        r.read(0, ByteBuffer.allocateDirect(256 * 1024));
                    }
                    return null;
                }));
                for (Future<?> f : futures) {
                    f.get();
                }
            }
            byte[] all = readAll(r);
            for (int b = 0; b < 64; b++) {
                for (int s = 0; s < 8; s++) {
                    int at = b * 4096 + s * 512;
                    assertThat(all[at]).as("block %d sector %d", b, s).isEqualTo((byte) (s + 1));
                    assertThat(all[at + 511]).isEqualTo((byte) (s + 1));
                }
            }
        }
    }

    @Test
    void aThousandLayersInOneChain() throws IOException {
        Path dir = tmp.resolve("r");
        int layers = 1050;
        try (Replica r = Replica.create(dir, 8 * MiB)) {
            for (int i = 0; i < layers; i++) {
                byte[] block = new byte[4096];
                byte[] text = ("layer " + i).getBytes(StandardCharsets.UTF_8);
                System.arraycopy(text, 0, block, 0, text.length);
                r.write(1, (i % 2048) * 4096L, ByteBuffer.wrap(block));
                r.snapshot("s" + i, true, Map.of());
            }
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(r.info().chain()).hasSize(layers + 1);
            ByteBuffer buf = ByteBuffer.allocate(4096);
            r.read(1049L * 4096, buf);
            assertThat(new String(buf.array(), 0, 10, StandardCharsets.UTF_8)).isEqualTo("layer 1049");
        }
    }

    @Test
    void extentsShowDataAndHolesInBlocks() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), MiB)) {
            r.write(1, 8192, filled(8192, 1));
            r.snapshot("a", true, Map.of(), Instant.parse("2026-01-02T03:04:05.678Z"));
            r.write(1, 65536, filled(512, 2));
            assertThat(r.extents(0, MiB))
                    .containsExactly(
                            new BlockDevice.Extent(0, 8192, false),
                            new BlockDevice.Extent(8192, 8192, true),
                            new BlockDevice.Extent(16384, 65536 - 16384, false),
                            new BlockDevice.Extent(65536, 4096, true),
                            new BlockDevice.Extent(69632, MiB - 69632, false));
            assertThat(r.extents(8704, 1024)).containsExactly(new BlockDevice.Extent(8704, 1024, true));
            assertThat(r.snapshots().getFirst().created()).isEqualTo(Instant.parse("2026-01-02T03:04:05Z"));
        }
    }

    static ByteBuffer filled(int length, int value) {
        byte[] b = new byte[length];
        java.util.Arrays.fill(b, (byte) value);
        return ByteBuffer.wrap(b);
    }

    static byte[] readAll(Replica r) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect((int) r.size());
        r.read(0, buf);
        byte[] out = new byte[(int) r.size()];
        buf.flip().get(out);
        return out;
    }

    static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }
}
