package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressPrinterTest {
    @Test
    void aTerminalGetsABarRedrawnInPlaceWithBytesRateAndEta() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressPrinter p =
                new ProgressPrinter("backup vol1", new PrintStream(bytes, true, StandardCharsets.UTF_8), true)) {
            p.update(1L << 30, 4L << 30);
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertThat(out).startsWith("\r[======                  ] backup vol1  25%  1 GiB / 4 GiB  ");
        assertThat(out).contains("/s  ETA ").endsWith("\n");
    }

    @Test
    void aPipeGetsPlainLinesAfterAnIntervalAndNoControlCharacters() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressPrinter p =
                new ProgressPrinter("restore b1", new PrintStream(bytes, true, StandardCharsets.UTF_8), false)) {
            p.update(512L << 20, 1L << 30); // within the first interval: a short run prints nothing
        }
        assertThat(bytes.toString(StandardCharsets.UTF_8)).isEmpty();
        // what a line says after 4 s, half way
        assertThat(ProgressPrinter.line("restore b1", 512L << 20, 1L << 30, 4))
                .isEqualTo("restore b1  50%  512 MiB / 1 GiB  128 MiB/s  ETA 4s");
    }

    @Test
    void etaIsReadable() {
        assertThat(ProgressPrinter.formatSeconds(42)).isEqualTo("42s");
        assertThat(ProgressPrinter.formatSeconds(125)).isEqualTo("2m05s");
        assertThat(ProgressPrinter.formatSeconds(7300)).isEqualTo("2h01m");
    }
}
