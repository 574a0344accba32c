package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.replica.ReplicaDevice;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Real NBD clients (qemu-img, qemu-io, nbdcopy, nbdinfo, fio) against a server backed by a real replica. */
class NbdClientsIT {
    private static final long SIZE = 256L << 20;
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Path dir;
    private ReplicaDevice device;
    private NbdServer server;
    private String uri;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("nbd-clients-it");
        device = TestVolumes.create(dir.resolve("vol0"), SIZE);
        server = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "first volume", device)));
        uri = "nbd://127.0.0.1:" + server.port() + "/vol0";
    }

    @AfterEach
    void tearDown() throws Exception {
        TestVolumes.tearDown(server, device, dir);
    }

    @Test
    void qemuImgConvertsAnImageInAndOutByteIdentical() throws Exception {
        String qemuImg = Tools.require("qemu-img");
        Path image = randomImage("in.img", SIZE, 1);
        Tools.ok(dir, TIMEOUT, qemuImg, "convert", "-n", "-f", "raw", "-O", "raw", image.toString(), uri);
        Path back = dir.resolve("out.img");
        Tools.ok(dir, TIMEOUT, qemuImg, "convert", "-f", "raw", "-O", "raw", uri, back.toString());
        assertThat(Files.mismatch(image, back)).isEqualTo(-1L);
    }

    @Test
    void qemuIoWritesAndVerifiesPatterns() throws Exception {
        String qemuIo = Tools.require("qemu-io");
        String out = Tools.ok(
                dir,
                TIMEOUT,
                qemuIo,
                "-f",
                "raw",
                "-c",
                "write -P 0xab 0 1M",
                "-c",
                "write -P 0xcd 3M 512k",
                "-c",
                "write -z 128k 64k",
                "-c",
                "read -P 0xab 0 128k",
                "-c",
                "read -P 0 128k 64k",
                "-c",
                "read -P 0xab 192k 832k",
                "-c",
                "read -P 0xcd 3M 512k",
                "-c",
                "read -P 0 1M 2M",
                "-c",
                "flush",
                uri);
        assertThat(out).doesNotContain("fail", "error", "Pattern verification");
        assertThat(out).contains("wrote 1048576/1048576", "read 524288/524288");
    }

    @Test
    void nbdcopyCopiesInAndOut() throws Exception {
        String nbdcopy = Tools.require("nbdcopy");
        Path image = randomImage("in.img", SIZE, 2);
        Tools.ok(dir, TIMEOUT, nbdcopy, image.toString(), uri);
        Path back = dir.resolve("out.img");
        Tools.ok(dir, TIMEOUT, nbdcopy, uri, back.toString());
        assertThat(Files.mismatch(image, back)).isEqualTo(-1L);
    }

    @Test
    void nbdinfoListsExportsAndMapsAllocation() throws Exception {
        String nbdinfo = Tools.require("nbdinfo");
        String qemuIo = Tools.require("qemu-io");
        Tools.ok(dir, TIMEOUT, qemuIo, "-f", "raw", "-c", "write -P 0x11 1M 64k", "-c", "write -P 0x22 8M 1M", uri);

        String list = Tools.ok(dir, TIMEOUT, nbdinfo, "--list", "nbd://127.0.0.1:" + server.port());
        assertThat(list).contains("export=\"vol0\"", "first volume", "export-size: " + SIZE, "can_multi_conn: true");

        String map = Tools.ok(dir, TIMEOUT, nbdinfo, "--map", uri);
        List<String> rows = map.lines()
                .map(String::strip)
                .map(l -> l.replaceAll("\\s+", " "))
                .toList();
        assertThat(rows)
                .containsExactly(
                        "0 1048576 3 hole,zero",
                        "1048576 65536 0 data",
                        "1114112 7274496 3 hole,zero",
                        "8388608 1048576 0 data",
                        "9437184 258998272 3 hole,zero");
    }

    @Test
    void fioVerifiesARandomWriteWorkload() throws Exception {
        String fio = Tools.require("fio");
        String out = Tools.ok(
                dir,
                Duration.ofSeconds(90),
                fio,
                "--name=nbd-verify",
                "--ioengine=nbd",
                "--uri=" + uri,
                "--rw=randwrite",
                "--bs=4k",
                "--size=64M",
                "--iodepth=16",
                "--verify=crc32c",
                "--verify_fatal=1",
                "--do_verify=1");
        assertThat(out).contains("err= 0").doesNotContain("verify: bad", "bad magic");
    }

    @Test
    void unknownExportIsRefusedWithTheServersMessage() throws Exception {
        String nbdinfo = Tools.require("nbdinfo");
        Tools.Result r = Tools.run(dir, TIMEOUT, List.of(nbdinfo, "nbd://127.0.0.1:" + server.port() + "/nope"));
        assertThat(r.exit()).isNotZero();
        // libnbd reports NBD_REP_ERR_UNKNOWN as ENOENT.
        assertThat(r.output()).contains("No such file or directory for export: nope");
    }

    private Path randomImage(String name, long size, int seed) throws Exception {
        Path image = dir.resolve(name);
        Random random = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(image)) {
            for (long done = 0; done < size; done += chunk.length) {
                random.nextBytes(chunk);
                out.write(chunk);
            }
        }
        return image;
    }
}
