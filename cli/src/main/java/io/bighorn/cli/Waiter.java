package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Waits, for a CLI command, until a volume reaches a state: asks the API twice a second and shows on
 * standard error what the volume is doing (and a progress bar while a replica is rebuilt).
 */
final class Waiter {
    private static final Pattern REBUILD = Pattern.compile("(\\S+) running (\\d+)/(\\d+)");

    private Waiter() {}

    /** "90s", "10m", "1h" or a number of seconds. */
    static Duration duration(String text) {
        Matcher m = Pattern.compile("(\\d+)([smh]?)").matcher(text.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("invalid duration '" + text + "': use e.g. 90s, 10m or 1h");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofSeconds(n);
        };
    }

    /** Waits until the volume is in {@code state} (and healthy, if asked); returns it. */
    static JsonNode until(ApiClient client, String volume, Duration timeout, String state, boolean healthy)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "";
        ProgressPrinter bar = null;
        try {
            while (true) {
                JsonNode v = client.get(VolumeCommand.path(volume));
                JsonNode s = v.path("status");
                boolean done = s.path("state").asText().equals(state)
                        && (!healthy || s.path("robustness").asText().equals("healthy"));
                if (done) {
                    return v;
                }
                Matcher m = REBUILD.matcher(
                        v.path("engine").path("status").path("rebuild").asText());
                JsonNode restore = v.path("restore");
                if (restore.path("bytesTotal").asLong() > 0) {
                    if (bar == null) {
                        bar = ProgressPrinter.forStderr("restoring " + volume, false);
                    }
                    bar.update(
                            restore.path("bytesDone").asLong(),
                            restore.path("bytesTotal").asLong());
                } else if (m.find()) {
                    if (bar == null) {
                        bar = ProgressPrinter.forStderr("rebuilding " + m.group(1), false);
                    }
                    bar.update(Long.parseLong(m.group(2)), Long.parseLong(m.group(3)));
                } else {
                    String now = "volume " + volume + ": " + s.path("state").asText() + ", "
                            + s.path("robustness").asText();
                    if (!now.equals(last)) {
                        System.err.println(now);
                        last = now;
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException(
                            "volume " + volume + " is still " + s.path("state").asText() + " and "
                                    + s.path("robustness").asText() + " after " + timeout.toSeconds() + "s");
                }
                Thread.sleep(500);
            }
        } finally {
            if (bar != null) {
                bar.close();
            }
        }
    }

    /** Waits until the volume no longer exists. */
    static void gone(ApiClient client, String volume, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                client.get(VolumeCommand.path(volume));
            } catch (ApiClient.ApiError e) {
                if (e.status() == 404) {
                    return;
                }
                throw e;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("volume " + volume + " still exists after " + timeout.toSeconds() + "s");
            }
            Thread.sleep(500);
        }
    }
}
