package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.replica.Replica;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bighorn replica --dir ...}: the refusals before serving (serving itself is in ReplicaServeIT). */
class ReplicaServeCommandTest {
    @TempDir
    Path tmp;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        return Cli.run(out, err, args);
    }

    @Test
    void refusesAnExistingReplicaOfAnotherSize() throws Exception {
        Path dir = tmp.resolve("r");
        Replica.create(dir, 4L << 20).close();
        Path secret = Files.writeString(tmp.resolve("secret"), "s\n");
        int code = run(
                "replica",
                "--dir",
                dir.toString(),
                "--size",
                "8M",
                "--listen",
                "127.0.0.1:0",
                "--secret-file",
                secret.toString());
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("is 4 MiB (4194304 bytes), not 8 MiB");
    }

    @Test
    void missingSecretFileIsAClearError() {
        Path missing = tmp.resolve("nope");
        int code = run(
                "replica", "--dir", tmp.resolve("r").toString(), "--size", "4M", "--secret-file", missing.toString());
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("secret file " + missing + " does not exist");
        assertThat(tmp.resolve("r")).doesNotExist();
    }

    @Test
    void creatingNeedsASize() throws Exception {
        Path secret = Files.writeString(tmp.resolve("secret"), "s");
        int code = run("replica", "--dir", tmp.resolve("r").toString(), "--secret-file", secret.toString());
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("--size is needed");
    }

    @Test
    void badListenIsAUsageError() {
        int code = run("replica", "--dir", tmp.resolve("r").toString(), "--listen", "nonsense");
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("--listen wants HOST:PORT");
    }

    @Test
    void inspectStillWorks() throws Exception {
        Path dir = tmp.resolve("r");
        Replica.create(dir, 4L << 20).close();
        assertThat(run("replica", "inspect", dir.toString())).isZero();
        assertThat(out.toString()).contains("chain     volume-head");
    }
}
