package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bighorn.dataplane.replica.Replica;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicaInspectCommandTest {
    @TempDir
    Path tmp;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        return Cli.run(out, err, args);
    }

    private Path replica() throws Exception {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, 16L << 20)) {
            r.write(1, 0, ByteBuffer.wrap(new byte[8192]).put(0, (byte) 1));
            r.snapshot("first", true, Map.of("app", "db"));
            r.write(2, 1 << 20, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 2));
            r.flush();
        }
        return dir;
    }

    @Test
    void printsTheReplicaAsText() throws Exception {
        Path dir = replica();
        assertThat(run("replica", "inspect", dir.toString(), "--checksum")).isZero();
        assertThat(out.toString())
                .contains("size      16 MiB (16777216 bytes)")
                .contains("epoch     2")
                .contains("revision  2")
                .contains("chain     first -> volume-head")
                .contains("KiB per GiB")
                .contains("layer-000002.img")
                .contains("8 KiB")
                .contains("{app=db}")
                .containsPattern("sha256    [0-9a-f]{64}");
    }

    @Test
    void printsJson() throws Exception {
        Path dir = replica();
        assertThat(run("replica", "inspect", dir.toString(), "--json")).isZero();
        JsonNode json = new ObjectMapper().readTree(out.toString());
        assertThat(json.get("size").asLong()).isEqualTo(16L << 20);
        assertThat(json.get("chain").toString()).isEqualTo("[\"first\",\"volume-head\"]");
        assertThat(json.get("layers")).hasSize(2);
        assertThat(json.get("layers").get(0).get("allocatedBytes").asLong()).isEqualTo(8192);
        assertThat(json.get("snapshots").get(0).get("labels").get("app").asText())
                .isEqualTo("db");
        assertThat(json.get("indexRamBytes").asLong()).isPositive();
    }

    @Test
    void aDirectoryThatIsNoReplicaIsAClearError() {
        assertThat(run("replica", "inspect", tmp.toString())).isEqualTo(1);
        assertThat(err.toString()).startsWith("bighorn: replica metadata").contains("volume.json: missing");
        assertThat(run("replica", "inspect", tmp.resolve("nowhere").toString())).isEqualTo(1);
        assertThat(err.toString()).contains("not a directory");
    }
}
