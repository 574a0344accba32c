package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's quick start, step by step, as a new user runs it: {@code bighorn server}, then the CLI creates,
 * attaches and writes a volume (only the ports differ: the test takes free ones and passes {@code --server}),
 * then the server is stopped and started again and the volume comes back attached with its data.
 */
class QuickstartIT {
    private static final Duration STEP = Duration.ofMinutes(3);

    @TempDir
    Path tmp;

    private Processes procs;
    private String server;
    private String nbd;
    private int runs;

    @BeforeEach
    void start() throws Exception {
        Path logs = Path.of("target", "it-logs", "QuickstartIT");
        Files.createDirectories(logs);
        procs = new Processes(logs);
    }

    @AfterEach
    void stop() throws Exception {
        procs.close();
    }

    private Processes.Proc startServer(String listen, String nbdListen) throws Exception {
        Processes.Proc p = procs.bighorn(
                "server-" + ++runs,
                Map.of(),
                "server",
                "--data",
                tmp.resolve("bighorn-data").toString(),
                "--listen",
                listen,
                "--nbd",
                nbdListen);
        server = p.await("API at (http://\\S+)", STEP);
        nbd = "127.0.0.1:" + p.await("NBD at 127\\.0\\.0\\.1:(\\d+)", STEP);
        return p;
    }

    /** Runs {@code bighorn ARGS --server URL}, expects success, returns its output. */
    private String cli(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--server", server));
        Processes.Proc p = procs.bighorn("cli-" + args[0] + "-" + args[1], Map.of(), all.toArray(String[]::new));
        assertThat(p.exit(STEP)).as("bighorn %s:%n%s", all, p.output).isZero();
        return p.output.toString();
    }

    private void qemuImg(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("qemu-img"));
        all.addAll(List.of(args));
        Processes.Proc p = procs.tool("qemu-img-" + args[0], all.toArray(String[]::new));
        assertThat(p.exit(STEP)).as("qemu-img %s:%n%s", List.of(args), p.output).isZero();
    }

    @Test
    void theReadmeQuickStartWorks() throws Exception {
        Processes.Proc first = startServer("127.0.0.1:0", "127.0.0.1:0");
        cli("setting", "set", "storage-minimal-available-percentage", "10");
        assertThat(cli("volume", "create", "vol1", "--size", "1Gi", "--replicas", "1"))
                .contains("vol1: 1 GiB");
        String attached = cli("volume", "attach", "vol1", "--wait");
        assertThat(attached).contains("attached, healthy").contains("nbd://" + nbd + "/vol1");
        assertThat(cli("volume", "ls")).containsPattern("vol1 +1 GiB +1 +attached +healthy");

        Path img = tmp.resolve("disk.img");
        byte[] data = new byte[8 << 20];
        new Random(3).nextBytes(data);
        Files.write(img, data);
        String url = "nbd://" + nbd + "/vol1";
        qemuImg("convert", "-n", "-f", "raw", "-O", "raw", img.toString(), url);
        cli("snapshot", "create", "vol1", "before-upgrade", "--label", "app=db");
        assertThat(cli("snapshot", "ls", "vol1")).contains("before-upgrade");
        assertThat(cli("volume", "expand", "vol1", "2Gi")).contains("vol1: 2 GiB");
        Path backups = tmp.resolve("backups");
        cli("setting", "set", "backup-target", backups.toUri().toString());
        String made = cli("backup", "create", "--volume", "vol1", "--snapshot", "before-upgrade", "--wait");
        assertThat(made).containsPattern("backup backup-[0-9a-f]+ of vol1/before-upgrade: completed file:");
        String backup = made.replaceAll("(?s).*backup (backup-[0-9a-f]+) of.*", "$1");
        org.awaitility.Awaitility.await()
                .atMost(STEP)
                .until(() -> cli("backup", "ls").matches("(?s).*vol1 +[0-9.]+ [KMGT]?i?B +1 +" + backup + ".*"));
        assertThat(cli("backup", "ls", "--volume", "vol1")).contains(backup).contains("completed");
        assertThat(cli("backup", "target", "--sync")).containsPattern("available +true");
        assertThat(cli(
                        "volume",
                        "create",
                        "vol1-copy",
                        "--size",
                        "2Gi",
                        "--replicas",
                        "1",
                        "--from-backup",
                        backup,
                        "--wait"))
                .contains("vol1-copy")
                .contains("detached");
        String copy = cli("volume", "attach", "vol1-copy", "--wait");
        String copyUrl = copy.replaceAll("(?s).*(nbd://\\S+/vol1-copy).*", "$1");
        qemuImg("compare", "-f", "raw", "-F", "raw", img.toString(), copyUrl);
        cli("volume", "detach", "vol1-copy", "--wait");
        cli("volume", "rm", "vol1-copy", "--wait");
        assertThat(cli("backup", "rm", backup)).contains("deleted backup " + backup);
        assertThat(cli("backup", "ls", "--volume", "vol1")).doesNotContain(backup);
        assertThat(cli("node", "ls")).contains("default");
        assertThat(cli("setting", "ls")).contains("default-replica-count");

        // a restart restores the volume, attached, with its data
        String port = server.substring(server.lastIndexOf(':') + 1);
        String nbdPort = nbd.substring(nbd.lastIndexOf(':') + 1);
        assertThat(first.stop(STEP)).as("the server stops on SIGTERM").isEqualTo(143);
        startServer("127.0.0.1:" + port, "127.0.0.1:" + nbdPort);
        org.awaitility.Awaitility.await()
                .atMost(STEP)
                .until(() -> cli("volume", "get", "vol1").contains("attached, healthy"));
        qemuImg("compare", "-f", "raw", "-F", "raw", img.toString(), url);

        cli("volume", "detach", "vol1", "--wait");
        assertThat(cli("volume", "rm", "vol1", "--wait")).contains("deleted");
        assertThat(cli("volume", "ls")).doesNotContain("vol1");
    }
}
