package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class MainTest {

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        return Cli.run(out, err, args);
    }

    @Test
    void versionPrintsTheBuildVersion() {
        assertThat(run("--version")).isZero();
        assertThat(out.toString()).startsWith("bighorn 0.1.0-SNAPSHOT").contains("JVM: ");
    }

    @Test
    void helpListsTheReplicaGroup() {
        assertThat(run("--help")).isZero();
        assertThat(out.toString()).contains("Usage: bighorn").contains("replica");
    }

    @Test
    void replicaHelpWorks() {
        assertThat(run("replica", "--help")).isZero();
        assertThat(out.toString()).contains("Usage: bighorn replica");
    }

    @Test
    void subcommandsInheritVersion() {
        assertThat(run("replica", "--version")).isZero();
        assertThat(out.toString()).startsWith("bighorn 0.1.0-SNAPSHOT");
    }

    @Test
    void missingSubcommandIsAUsageError() {
        assertThat(run()).isEqualTo(2);
        assertThat(err.toString()).contains("Missing required subcommand").contains("Usage: bighorn");
        assertThat(run("replica")).isEqualTo(2);
    }

    @Test
    void unknownOptionIsAUsageError() {
        assertThat(run("--no-such-option")).isEqualTo(2);
        assertThat(err.toString()).contains("--no-such-option");
    }
}
