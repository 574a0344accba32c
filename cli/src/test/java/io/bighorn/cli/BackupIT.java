package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Backups with real processes: a volume served by replica and engine processes and written by qemu-img
 * over NBD is backed up with {@code bighorn backup create}, listed, inspected, restored with {@code bighorn
 * backup restore} into new replica directories, and served again; what a client reads matches what was
 * written.
 */
class BackupIT {
    private static final Duration START = Duration.ofSeconds(60);
    private static final long SIZE = 64L << 20;
    private static final Map<String, String> ENV = Map.of("BIGHORN_SECRET", "backup-it-secret");

    @TempDir
    Path tmp;

    private Processes procs;

    @BeforeEach
    void start(TestInfo info) throws Exception {
        Path logs = Path.of(
                "target",
                "it-logs",
                "BackupIT-" + info.getTestMethod().orElseThrow().getName());
        Files.createDirectories(logs);
        procs = new Processes(logs);
        Processes.requireTool("qemu-img");
        Processes.requireTool("qemu-io");
    }

    @AfterEach
    void stop() throws Exception {
        procs.close();
    }

    private Processes.Engine volume(List<Path> dirs) throws Exception {
        List<String> urls = new ArrayList<>();
        for (Path d : dirs) {
            Processes.Proc r = procs.replica("replica-" + d.getFileName(), ENV, d, SIZE, "127.0.0.1:0");
            urls.add(r.await("serving on (tcp://\\S+)", START));
        }
        return procs.engine("engine-" + dirs.getFirst().getFileName(), ENV, SIZE, urls, 8);
    }

    private Processes.Proc run(String name, Map<String, String> env, String... args) throws Exception {
        Processes.Proc p = procs.bighorn(name, env, args);
        assertThat(p.exit(Duration.ofMinutes(5)))
                .as("%s output:%n%s", name, p.output)
                .isZero();
        return p;
    }

    /** The arguments of {@code bighorn backup create} for a snapshot of the engine at {@code control}. */
    private static String[] create(String control, String snapshot, String target, String... extra) {
        List<String> args = new ArrayList<>(
                List.of("backup", "create", "--engine", control, "--snapshot", snapshot, "--target", target));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    /** Runs {@code bighorn backup restore URL} into {@code dirs} and expects success. */
    private void restore(String name, String url, Path... dirs) throws Exception {
        List<String> args = new ArrayList<>(List.of("backup", "restore", url));
        for (Path d : dirs) {
            args.addAll(List.of("--replica-dir", d.toString()));
        }
        run(name, Map.of(), args.toArray(String[]::new));
    }

    /** Runs {@code bighorn ARGS}, expects exit code 1 and {@code message} in its output. */
    private void fails(String name, String message, String... args) throws Exception {
        Processes.Proc p = procs.bighorn(name, Map.of(), args);
        assertThat(p.exit(START)).as("%s output:%n%s", name, p.output).isEqualTo(1);
        assertThat(p.output.toString()).contains(message);
    }

    private static JsonNode json(Processes.Proc p) throws Exception {
        String out = p.output.toString();
        int array = out.indexOf('[');
        int object = out.indexOf('{');
        int start = array >= 0 && (object < 0 || array < object) ? array : object;
        return new ObjectMapper().readTree(out.substring(start));
    }

    private void tool(String name, String... command) throws Exception {
        Processes.Proc p = procs.tool(name, command);
        assertThat(p.exit(Duration.ofMinutes(5)))
                .as("%s output:%n%s", name, p.output)
                .isZero();
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    @Test
    void aVolumeIsBackedUpIncrementallyAndRestoredIntoReplicasThatServeIt() throws Exception {
        String target = "file://" + tmp.resolve("target");
        String url1 = target + "?backup=backup-1&volume=vol0";
        String url2 = target + "?backup=backup-2&volume=vol0";
        Processes.Engine e = volume(List.of(tmp.resolve("a1"), tmp.resolve("a2")));
        // 24 MiB of random data, 8 MiB of written zeros, the rest never written
        byte[] image = new byte[(int) SIZE];
        byte[] random = new byte[24 << 20];
        new Random(7).nextBytes(random);
        System.arraycopy(random, 0, image, 0, random.length);
        Path file = tmp.resolve("data.img");
        Files.write(file, random);
        tool("write-data", "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", file.toString(), e.nbd());
        tool("write-zeros", "qemu-io", "-f", "raw", "-c", "write -P 0 32M 8M", e.nbd());
        procs.ctl(e.control(), "snapshot", "create", "s1");
        JsonNode first = json(run("backup-1", ENV, create(e.control(), "s1", target, "--name", "backup-1", "--json")));
        assertThat(first.get("incremental").asBoolean()).isFalse();
        assertThat(first.get("url").asText()).isEqualTo(url1);
        // 12 data blocks and 4 blocks of zeros, stored once
        assertThat(first.get("blocksChanged").asLong()).isEqualTo(16);
        assertThat(first.get("blocksUploaded").asLong()).isEqualTo(13);
        byte[] atS1 = image.clone();

        tool("overwrite", "qemu-io", "-f", "raw", "-c", "write -P 0xab 3M 4k", "-c", "write -P 0xcd 50M 1M", e.nbd());
        java.util.Arrays.fill(image, 3 << 20, (3 << 20) + 4096, (byte) 0xab);
        java.util.Arrays.fill(image, 50 << 20, 51 << 20, (byte) 0xcd);
        procs.ctl(e.control(), "snapshot", "create", "s2");
        JsonNode second = json(run("backup-2", ENV, create(e.control(), "s2", target, "--name", "backup-2", "--json")));
        assertThat(second.get("incremental").asBoolean()).isTrue();
        assertThat(second.get("base").asText()).isEqualTo("backup-1");
        assertThat(second.get("blocksUploaded").asLong()).isEqualTo(2);

        JsonNode list = json(run("ls", Map.of(), "backup", "ls", target, "--volume", "vol0", "--json"));
        assertThat(list).extracting(n -> n.get("name").asText()).containsExactly("backup-1", "backup-2");
        JsonNode volumes = json(run("ls-volumes", Map.of(), "backup", "ls", target, "--json"));
        assertThat(volumes.get(0).get("lastBackup").asText()).isEqualTo("backup-2");
        JsonNode inspect = json(run("inspect", Map.of(), "backup", "inspect", url2, "--json"));
        assertThat(inspect.get("snapshot").asText()).isEqualTo("s2");
        assertThat(inspect.get("state").asText()).isEqualTo("complete");
        assertThat(inspect.get("blocks").asInt()).isEqualTo(17);

        // restore each backup into new replica directories; each reads back as the volume did
        restore("restore-2", url2, tmp.resolve("b1"), tmp.resolve("b2"));
        restore("restore-1", url1, tmp.resolve("c1"));
        assertThat(procs.checksums(List.of(tmp.resolve("b1"), tmp.resolve("b2"))))
                .containsOnly(sha256(image));
        assertThat(procs.checksums(List.of(tmp.resolve("c1")))).containsOnly(sha256(atS1));

        // and the restored replicas serve the volume to a real client
        Processes.Engine restored = volume(List.of(tmp.resolve("b1"), tmp.resolve("b2")));
        Path back = tmp.resolve("back.img");
        tool("read-back", "qemu-img", "convert", "-f", "raw", "-O", "raw", restored.nbd(), back.toString());
        assertThat(sha256(Files.readAllBytes(back))).isEqualTo(sha256(image));

        // restore the first backup over that running volume through its NBD export: blocks the first
        // backup lacks (the 0xcd MiB) are zeroed, so it reads as the volume did at s1
        JsonNode viaNbd =
                json(run("restore-nbd", Map.of(), "backup", "restore", url1, "--nbd", restored.nbd(), "--json"));
        assertThat(viaNbd.get("blocksWritten").asLong()).isEqualTo(16);
        Path back1 = tmp.resolve("back1.img");
        tool("read-back-1", "qemu-img", "convert", "-f", "raw", "-O", "raw", restored.nbd(), back1.toString());
        assertThat(sha256(Files.readAllBytes(back1))).isEqualTo(sha256(atS1));

        // deleting the first backup keeps the second restorable
        JsonNode rm = json(run("rm", Map.of(), "backup", "rm", url1, "--json"));
        assertThat(rm.get("gcSkipped").isNull()).isTrue();
        restore("restore-again", url2, tmp.resolve("d1"));
        assertThat(procs.checksums(List.of(tmp.resolve("d1")))).containsOnly(sha256(image));
    }

    @Test
    void aBackupKilledMidwayIsIncompleteAndItsRerunReusesTheUploadedBlocks() throws Exception {
        String target = "file://" + tmp.resolve("target");
        String url = target + "?backup=backup-k&volume=vol0";
        Processes.Engine e = volume(List.of(tmp.resolve("k1")));
        byte[] random = new byte[(int) SIZE];
        new Random(9).nextBytes(random);
        Path file = tmp.resolve("data.img");
        Files.write(file, random);
        tool("write", "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", file.toString(), e.nbd());
        procs.ctl(e.control(), "snapshot", "create", "s1");
        Path blocks = tmp.resolve("target/backupstore/volumes");
        Processes.Proc doomed = procs.bighorn(
                "doomed", ENV, create(e.control(), "s1", target, "--name", "backup-k", "--concurrency", "1"));
        // kill -9 once some blocks are stored, before all are
        org.awaitility.Awaitility.await()
                .atMost(Duration.ofMinutes(2))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> countBlocks(blocks) >= 3 || !doomed.process.isAlive());
        doomed.kill();
        doomed.exit(START);
        long stored = countBlocks(blocks);
        assertThat(stored).as("blocks stored before the kill").isBetween(1L, 31L);

        // blocks are stored while the backup's lock settles, its cfgs only once the lock is confirmed: killed
        // before that, it left no cfg at all; after, a placeholder. Neither passes for a backup.
        JsonNode list = json(run("ls", Map.of(), "backup", "ls", target, "--volume", "vol0", "--json"));
        assertThat(list.size()).isLessThanOrEqualTo(1);
        assertThat(list).allMatch(b -> b.get("state").asText().equals("incomplete"));
        // and listing the backup volumes works either way (a volume without volume.cfg is left out)
        assertThat(json(run("ls-volumes", Map.of(), "backup", "ls", target, "--json")))
                .hasSizeLessThanOrEqualTo(1);
        fails(
                "restore-incomplete",
                list.isEmpty() ? "no backup" : "incomplete",
                "backup",
                "restore",
                url,
                "--replica-dir",
                tmp.resolve("x").toString());
        assertThat(tmp.resolve("x")).doesNotExist();

        // the killed backup's lock expires only after 150 s: the rerun shares it (backups share locks)
        JsonNode rerun = json(run("rerun", ENV, create(e.control(), "s1", target, "--name", "backup-k", "--json")));
        assertThat(rerun.get("incremental").asBoolean()).isFalse();
        assertThat(rerun.get("blocksChanged").asLong()).isEqualTo(32);
        assertThat(rerun.get("blocksUploaded").asLong()).isLessThanOrEqualTo(32 - stored);
        restore("restore", url, tmp.resolve("k-restored"));
        assertThat(procs.checksums(List.of(tmp.resolve("k-restored")))).containsOnly(sha256(random));
    }

    private static long countBlocks(Path dir) throws java.io.IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (var walk = Files.walk(dir)) {
            return walk.filter(p -> p.toString().endsWith(".blk")).count();
        }
    }

    @Test
    void badInputFailsWithAClearMessage() throws Exception {
        fails("scheme", "unsupported scheme 'ftp'", "backup", "ls", "ftp://host/backups");
        String volumeOnly = "file://" + tmp + "?volume=vol0";
        fails(
                "no-backup",
                "names no backup",
                "backup",
                "restore",
                volumeOnly,
                "--replica-dir",
                tmp.resolve("x").toString());
        fails("whole-volume", "--whole-volume", "backup", "rm", volumeOnly);
        fails("where", "one of them", "backup", "restore", "file://" + tmp + "?backup=backup-1&volume=vol0");
        fails(
                "missing",
                "no backup backup-1 of volume vol0",
                "backup",
                "inspect",
                "file://" + tmp + "?backup=backup-1&volume=vol0");
        fails("bad-name", "invalid volume name", "backup", "inspect", "file://" + tmp + "?backup=backup-1&volume=../x");
        assertThat(tmp.resolve("x")).doesNotExist();
    }
}
