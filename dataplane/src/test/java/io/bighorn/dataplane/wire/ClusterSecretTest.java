package io.bighorn.dataplane.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterSecretTest {
    @TempDir
    Path tmp;

    @Test
    void fileWinsOverTheEnvironmentAndLosesItsTrailingNewline() throws Exception {
        Path f = Files.writeString(tmp.resolve("secret"), "s3cret\n");
        assertThat(ClusterSecret.resolve(f, Map.of(ClusterSecret.ENV, "other"))).isEqualTo(ClusterSecret.of("s3cret"));
    }

    @Test
    void environmentWhenNoFile() throws Exception {
        assertThat(ClusterSecret.resolve(null, Map.of(ClusterSecret.ENV, "abc")))
                .isEqualTo(ClusterSecret.of("abc"));
    }

    @Test
    void clearErrors() throws Exception {
        assertThatThrownBy(() -> ClusterSecret.resolve(null, Map.of()))
                .isInstanceOf(IOException.class)
                .hasMessage("no cluster secret: pass --secret-file FILE or set BIGHORN_SECRET");
        assertThatThrownBy(() -> ClusterSecret.resolve(null, Map.of(ClusterSecret.ENV, " ")))
                .hasMessage("BIGHORN_SECRET is empty");
        Path missing = tmp.resolve("missing");
        assertThatThrownBy(() -> ClusterSecret.resolve(missing, Map.of()))
                .hasMessage("secret file " + missing + " does not exist");
        Path empty = Files.writeString(tmp.resolve("empty"), "\n");
        assertThatThrownBy(() -> ClusterSecret.resolve(empty, Map.of()))
                .hasMessage("secret file " + empty + " is empty");
        assertThatThrownBy(() -> ClusterSecret.resolve(tmp, Map.of()))
                .hasMessageStartingWith("cannot read secret file " + tmp);
    }

    @Test
    void toStringHidesTheSecret() {
        assertThat(ClusterSecret.of("hunter2").toString()).doesNotContain("hunter2");
    }

    @Test
    void derivedTokensArePerPurposeAndReproducible() {
        ClusterSecret a = ClusterSecret.of("same");
        org.assertj.core.api.Assertions.assertThat(a.derive("x"))
                .isEqualTo(ClusterSecret.of("same\n").derive("x"))
                .isNotEqualTo(a.derive("y"))
                .isNotEqualTo(ClusterSecret.of("other").derive("x"))
                .hasSize(64)
                .doesNotContain("same");
    }
}
