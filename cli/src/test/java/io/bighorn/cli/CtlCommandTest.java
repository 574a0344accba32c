package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bighorn.control.ControlServer;
import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bighorn ctl against a real control server in front of an engine on real replicas. */
class CtlCommandTest {
    @TempDir
    Path tmp;

    private Engine engine;
    private ControlServer server;
    private String address;
    private StringWriter out;
    private StringWriter err;

    @BeforeEach
    void start() throws Exception {
        List<ReplicaEndpoint> endpoints = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            endpoints.add(new LocalReplicaEndpoint(Replica.create(tmp.resolve("r" + i), 8L << 20)));
        }
        engine = Engine.start("vol0", 8L << 20, endpoints, Duration.ofSeconds(8), Clock.systemUTC());
        server = ControlServer.start(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                engine,
                "nbd://127.0.0.1:10809/vol0",
                address -> {
                    throw new java.io.IOException("cannot connect to replica " + address + ": refused");
                });
        address = "127.0.0.1:" + server.port();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        engine.close();
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        List<String> all = new ArrayList<>(List.of("ctl", "--engine", address));
        all.addAll(List.of(args));
        return Cli.run(out, err, all.toArray(String[]::new));
    }

    @Test
    void infoAndReplicas() throws Exception {
        assertThat(run("info")).isZero();
        assertThat(out.toString())
                .contains("volume    vol0")
                .contains("size      8 MiB")
                .contains("epoch     1")
                .contains("nbd://127.0.0.1:10809/vol0")
                .contains(" RW ");
        assertThat(run("replicas", "--json")).isZero();
        JsonNode replicas = new ObjectMapper().readTree(out.toString());
        assertThat(replicas).hasSize(2);
        assertThat(replicas.get(0).get("mode").asText()).isEqualTo("RW");
    }

    @Test
    void snapshotCommands() throws Exception {
        assertThat(run("snapshot", "create", "s1", "--label", "app=db")).isZero();
        assertThat(out.toString()).startsWith("created snapshot s1 at ");
        assertThat(run("snapshot", "create", "s2")).isZero();
        assertThat(run("snapshot", "ls")).isZero();
        assertThat(out.toString()).contains("s1").contains("s2");
        assertThat(run("snapshot", "ls", "--json")).isZero();
        JsonNode list = new ObjectMapper().readTree(out.toString());
        assertThat(list.get("snapshots").get(0).get("labels").get("app").asText())
                .isEqualTo("db");
        assertThat(run("snapshot", "rm", "s1")).isZero();
        assertThat(run("snapshot", "purge")).isZero();
        assertThat(out.toString()).contains("purged s1");
        assertThat(run("snapshot", "revert", "s2")).isZero();
        assertThat(run("expand", "16M")).isZero();
        assertThat(out.toString()).contains("volume vol0 is now 16 MiB");
    }

    @Test
    void errorsAreOneClearLine() {
        assertThat(run("snapshot", "create", "Not Valid")).isEqualTo(1);
        assertThat(err.toString()).startsWith("bighorn: invalid snapshot name 'Not Valid'");
        assertThat(run("snapshot", "revert", "missing")).isEqualTo(1);
        assertThat(err.toString()).contains("no snapshot named 'missing'");
        assertThat(run("expand", "lots")).isEqualTo(1);
        assertThat(run("snapshot")).isEqualTo(2);
    }
}
