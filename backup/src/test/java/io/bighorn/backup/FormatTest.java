package io.bighorn.backup;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bighorn.backup.store.BackupTarget;
import io.bighorn.dataplane.replica.Replica;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import net.jpountz.xxhash.XXHashFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Longhorn's backupstore format, from its description (see the project's reference on the backupstore):
 * fixtures written by hand are read and restored, and what Bighorn writes matches them field by field.
 */
class FormatTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Block 0 of the fixtures: bytes i mod 251. */
    static byte[] ramp() {
        byte[] b = new byte[2 << 20];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i % 251);
        }
        return b;
    }

    static byte[] flat() {
        byte[] b = new byte[2 << 20];
        Arrays.fill(b, (byte) 0x5a);
        return b;
    }

    /**
     * An LZ4 frame built byte by byte from the frame format: magic, FLG (version 01, independent blocks),
     * BD (4 MiB blocks), header checksum (second byte of xxHash32 of FLG and BD), one block stored
     * uncompressed (size with the high bit set), end mark.
     */
    static byte[] lz4Frame(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0x04, 0x22, 0x4d, 0x18});
        byte[] descriptor = {0x60, 0x70};
        int hc = (XXHashFactory.safeInstance().hash32().hash(descriptor, 0, 2, 0) >> 8) & 0xff;
        out.writeBytes(descriptor);
        out.write(hc);
        out.writeBytes(le32(data.length | 0x80000000));
        out.writeBytes(data);
        out.writeBytes(le32(0));
        return out.toByteArray();
    }

    private static byte[] le32(int v) {
        return new byte[] {(byte) v, (byte) (v >> 8), (byte) (v >> 16), (byte) (v >> 24)};
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(out)) {
            g.write(data);
        }
        return out.toByteArray();
    }

    /** Copies the fixture tree into a target directory and adds the blocks. */
    private Path fixtureTarget() throws IOException, URISyntaxException {
        Path src = Path.of(FormatTest.class.getResource("/fixtures/longhorn").toURI());
        Path dst = tmp.resolve("target");
        try (Stream<Path> walk = Files.walk(src)) {
            for (Path p : walk.toList()) {
                Path q = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        String ramp = "eb0e38fa0c2dd92c3ae29a6b05f74393547516089d640fc98dda8289582a3631";
        String flat = "7b2dafe52887bf98bf80248a9b7bb3aecf1849a4229d686a94efa2f21919109c";
        Path pvc = dst.resolve("backupstore/volumes/0e/59/pvc-test1/blocks");
        write(pvc.resolve("eb/0e/" + ramp + ".blk"), lz4Frame(ramp()));
        write(pvc.resolve("7b/2d/" + flat + ".blk"), lz4Frame(flat()));
        write(dst.resolve("backupstore/volumes/21/dc/legacy-vol/blocks/7b/2d/" + flat + ".blk"), gzip(flat()));
        return dst;
    }

    private static void write(Path p, byte[] data) throws IOException {
        Files.createDirectories(p.getParent());
        Files.write(p, data);
    }

    private static Backupstore open(Path target) {
        return new Backupstore(BackupTarget.open("file://" + target, Map.of()), Duration.ZERO);
    }

    @Test
    void handWrittenFixturesAreReadAndRestored() throws Exception {
        try (Backupstore bs = open(fixtureTarget())) {
            assertThat(bs.volumes()).containsExactly("legacy-vol", "pvc-test1");
            VolumeConfig v = bs.volume("pvc-test1");
            assertThat(v.size()).isEqualTo(64 << 20);
            assertThat(v.lastBackupName()).isEqualTo("backup-2");
            assertThat(v.compressionMethod()).isEqualTo("lz4");
            assertThat(v.dataEngine()).isEqualTo("v1");
            assertThat(v.blockCount()).isEqualTo(2);
            BackupConfig b2 = bs.backup("pvc-test1", "backup-2");
            assertThat(b2.complete()).isTrue();
            assertThat(b2.isIncremental()).isTrue();
            assertThat(b2.blocks())
                    .extracting(BackupConfig.BlockMapping::offset)
                    .containsExactly(0L, 4L << 20);
            assertThat(bs.backups("pvc-test1")).extracting(BackupConfig::name).containsExactly("backup-1", "backup-2");

            byte[] expected = new byte[64 << 20];
            System.arraycopy(ramp(), 0, expected, 0, 2 << 20);
            System.arraycopy(flat(), 0, expected, 4 << 20, 2 << 20);
            Path d = tmp.resolve("pvc");
            DirectoryRestore.restore(bs, "pvc-test1", "backup-2", List.of(d), 2, Progress.NONE);
            TestVolume.assertReads(d, expected);

            // the oldest layout: no compression field (gzip), no data engine
            VolumeConfig legacy = bs.volume("legacy-vol");
            assertThat(legacy.compression()).isEqualTo(Compression.GZIP);
            assertThat(legacy.labels()).containsEntry("app", "db");
            byte[] old = new byte[8 << 20];
            System.arraycopy(flat(), 0, old, 2 << 20, 2 << 20);
            Path l = tmp.resolve("legacy");
            DirectoryRestore.restore(bs, "legacy-vol", "backup-old", List.of(l), 2, Progress.NONE);
            TestVolume.assertReads(l, old);
        }
    }

    @Test
    void whatBighornWritesMatchesTheFixturesFieldByField() throws Exception {
        Path fixtures = fixtureTarget();
        Path target = tmp.resolve("ours");
        java.util.ArrayDeque<Instant> times = new java.util.ArrayDeque<>(List.of(
                Instant.parse("2026-11-21T22:43:52Z"), // the volume's creation
                Instant.parse("2026-11-21T22:43:55Z"), // backup-1 done
                Instant.parse("2026-11-21T22:44:07Z"),
                Instant.parse("2026-11-21T22:44:08Z"))); // backup-2 done
        Clock clock = new Clock() {
            @Override
            public java.time.ZoneId getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return times.size() > 1 ? times.poll() : times.peek();
            }
        };
        try (Replica r = Replica.create(tmp.resolve("src"), 64 << 20);
                Backupstore bs = open(target)) {
            r.write(0, 0, java.nio.ByteBuffer.wrap(ramp()));
            r.snapshot("snap-1", true, Map.of(), Instant.parse("2026-11-21T22:43:50Z"));
            BackupOptions o = new BackupOptions("backup-1", 0, null, false, 2, Map.of(), clock);
            try (SnapshotSource s = ReplicaSnapshotSource.open(
                    new io.bighorn.dataplane.replica.LocalReplicaEndpoint(r), "snap-1", false)) {
                bs.backup("pvc-test1", s, o, Progress.NONE);
            }
            r.write(0, 4 << 20, java.nio.ByteBuffer.wrap(flat()));
            r.snapshot("snap-2", true, Map.of(), Instant.parse("2026-11-21T22:44:06Z"));
            try (SnapshotSource s = ReplicaSnapshotSource.open(
                    new io.bighorn.dataplane.replica.LocalReplicaEndpoint(r), "snap-2", false)) {
                bs.backup("pvc-test1", s, o.withName("backup-2"), Progress.NONE);
            }
        }
        String dir = "backupstore/volumes/0e/59/pvc-test1/";
        // the volume: byte for byte
        String ours = Files.readString(target.resolve(dir + "volume.cfg"));
        String theirs = Files.readString(fixtures.resolve(dir + "volume.cfg"));
        assertThat(ours).isEqualTo(theirs);
        for (String b : List.of("backup-1", "backup-2")) {
            String cfg = dir + "backups/backup_" + b + ".cfg";
            JsonNode o = JSON.readTree(target.resolve(cfg).toFile());
            JsonNode t = JSON.readTree(fixtures.resolve(cfg).toFile());
            assertThat(fieldNames(o)).containsExactlyElementsOf(fieldNames(t));
            for (String f : fieldNames(t)) {
                if (f.equals("NewlyUploadedDataSize") || f.equals("ProcessingBlocks")) {
                    // compressed sizes depend on the compressor; Longhorn writes null or {} here
                    assertThat(o.get(f).isTextual() || o.get(f).isNull()).isTrue();
                    continue;
                }
                assertThat(o.get(f)).as(b + " " + f).isEqualTo(t.get(f));
            }
        }
        // blocks: named by the SHA-512 of their data, stored as LZ4 frames
        for (String c : List.of(
                "eb0e38fa0c2dd92c3ae29a6b05f74393547516089d640fc98dda8289582a3631",
                "7b2dafe52887bf98bf80248a9b7bb3aecf1849a4229d686a94efa2f21919109c")) {
            Path blk = target.resolve(dir + "blocks/" + c.substring(0, 2) + "/" + c.substring(2, 4) + "/" + c + ".blk");
            byte[] stored = Files.readAllBytes(blk);
            assertThat(Arrays.copyOf(stored, 4)).containsExactly(0x04, 0x22, 0x4d, 0x18);
        }
        try (Stream<Path> files = Files.walk(target.resolve(dir))) {
            List<String> names = new ArrayList<>();
            files.filter(Files::isRegularFile)
                    .forEach(p -> names.add(target.resolve(dir).relativize(p).toString()));
            assertThat(names)
                    .containsExactlyInAnyOrder(
                            "volume.cfg",
                            "backups/backup_backup-1.cfg",
                            "backups/backup_backup-2.cfg",
                            "blocks/eb/0e/eb0e38fa0c2dd92c3ae29a6b05f74393547516089d640fc98dda8289582a3631.blk",
                            "blocks/7b/2d/7b2dafe52887bf98bf80248a9b7bb3aecf1849a4229d686a94efa2f21919109c.blk");
        }
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    @Test
    void goStringEscapingAndTwiceEncodedFields() throws IOException {
        VolumeConfig v = new VolumeConfig(
                "v1x", 4096, Map.of("b", "<&>", "a", "x\"y"), "t", "", "", 0, "", "", "gzip", "sc", "v1");
        String json = new String(v.toJson(), StandardCharsets.UTF_8);
        assertThat(json).contains("\"Labels\":{\"a\":\"x\\\"y\",\"b\":\"\\u003c\\u0026\\u003e\"}");
        assertThat(json).contains("\"CompressionMethod\":\"\\\"gzip\\\"\"");
        VolumeConfig back = VolumeConfig.parse(v.toJson(), "test");
        assertThat(back).isEqualTo(v);
    }

    @Test
    void compressionRoundTripsAndFallsBackOnTheOtherMagic() throws IOException {
        byte[] data = ramp();
        for (Compression c : Compression.values()) {
            byte[] out = new byte[data.length];
            assertThat(c.decompress(c.compress(data, data.length), out)).isEqualTo(data.length);
            assertThat(out).isEqualTo(data);
        }
        byte[] out = new byte[data.length];
        // a volume that says gzip but holds lz4 blocks, and the other way round
        Compression.GZIP.decompress(Compression.LZ4.compress(data, data.length), out);
        assertThat(out).isEqualTo(data);
        Compression.LZ4.decompress(gzip(data), out);
        assertThat(out).isEqualTo(data);
        assertThat(Compression.LZ4.compress(data, data.length)).startsWith(0x04, 0x22, 0x4d, 0x18);
        // what Bighorn writes is read by an independent LZ4 frame decoder, also in 16 MiB blocks (4 frames
        // blocks) and for data that does not compress (stored raw)
        byte[] large = new byte[16 << 20];
        new java.util.Random(3).nextBytes(large);
        System.arraycopy(data, 0, large, 0, data.length);
        for (byte[] d : List.of(data, large)) {
            try (InputStream in = new net.jpountz.lz4.LZ4FrameInputStream(
                    new java.io.ByteArrayInputStream(Compression.LZ4.compress(d, d.length)))) {
                assertThat(in.readAllBytes()).isEqualTo(d);
            }
            byte[] back = new byte[d.length];
            assertThat(Compression.LZ4.decompress(Compression.LZ4.compress(d, d.length), back))
                    .isEqualTo(d.length);
            assertThat(back).isEqualTo(d);
        }
        // and a frame with checksums and a content size, as other writers make them, is read
        java.io.ByteArrayOutputStream framed = new java.io.ByteArrayOutputStream();
        try (net.jpountz.lz4.LZ4FrameOutputStream o = new net.jpountz.lz4.LZ4FrameOutputStream(
                framed,
                net.jpountz.lz4.LZ4FrameOutputStream.BLOCKSIZE.SIZE_64KB,
                data.length,
                net.jpountz.lz4.LZ4FrameOutputStream.FLG.Bits.BLOCK_INDEPENDENCE,
                net.jpountz.lz4.LZ4FrameOutputStream.FLG.Bits.BLOCK_CHECKSUM,
                net.jpountz.lz4.LZ4FrameOutputStream.FLG.Bits.CONTENT_CHECKSUM,
                net.jpountz.lz4.LZ4FrameOutputStream.FLG.Bits.CONTENT_SIZE)) {
            o.write(data);
        }
        byte[] back = new byte[data.length];
        assertThat(Compression.LZ4.decompress(framed.toByteArray(), back)).isEqualTo(data.length);
        assertThat(back).isEqualTo(data);
    }
}
