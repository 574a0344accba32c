package io.bighorn.cli;

import io.bighorn.backup.Progress;
import io.bighorn.common.Sizes;
import java.io.PrintStream;

/**
 * Shows a long operation's progress on standard error: a bar redrawn in place with bytes, rate and ETA on a
 * terminal, a plain line every few seconds otherwise (logs, pipes), so standard output stays for results.
 */
final class ProgressPrinter implements Progress, AutoCloseable {
    private static final long BAR_EVERY_NANOS = 200_000_000L;
    private static final long LINE_EVERY_NANOS = 5_000_000_000L;
    private final String what;
    private final PrintStream err;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long lastShown;
    private long done;
    private long total;
    private boolean drawn;
    private boolean shown;

    ProgressPrinter(String what, PrintStream err, boolean terminal) {
        this.what = what;
        this.err = err;
        this.terminal = terminal;
    }

    // the null check matters when the JDK runs with the java.base console provider
    @SuppressWarnings("SystemConsoleNull")
    static ProgressPrinter forStderr(String what, boolean quiet) {
        return new ProgressPrinter(
                what,
                quiet ? new PrintStream(PrintStream.nullOutputStream()) : System.err,
                System.console() != null && System.console().isTerminal());
    }

    @Override
    public synchronized void update(long bytesDone, long bytesTotal) {
        done = Math.max(done, bytesDone);
        total = bytesTotal;
        long now = System.nanoTime();
        // a bar is drawn at once; a plain line only after the first interval, so short runs print none
        if ((terminal && !shown)
                || now - (shown ? lastShown : start) >= (terminal ? BAR_EVERY_NANOS : LINE_EVERY_NANOS)) {
            shown = true;
            lastShown = now;
            show(now);
        }
    }

    String line(long now) {
        return line(what, done, total, Math.max(1e-3, (now - start) / 1e9));
    }

    /** "what pct%  done / total  rate/s  ETA t" after {@code secs} seconds. */
    static String line(String what, long done, long total, double secs) {
        double rate = done / secs;
        String eta = rate > 0 && total > done ? formatSeconds((total - done) / rate) : "0s";
        int pct = total == 0 ? 100 : (int) (100 * done / total);
        return String.format(
                "%s %3d%%  %s / %s  %s/s  ETA %s",
                what, pct, Sizes.format(done), Sizes.format(total), Sizes.format((long) rate), eta);
    }

    private void show(long now) {
        if (terminal) {
            int width = 24;
            int filled = total == 0 ? width : (int) (width * done / total);
            err.print("\r[" + "=".repeat(filled) + " ".repeat(width - filled) + "] " + line(now) + "\u001b[K");
            drawn = true;
        } else {
            err.println(line(now));
        }
        err.flush();
    }

    static String formatSeconds(double s) {
        long t = Math.round(s);
        return t >= 3600
                ? String.format("%dh%02dm", t / 3600, t / 60 % 60)
                : t >= 60 ? String.format("%dm%02ds", t / 60, t % 60) : t + "s";
    }

    @Override
    public synchronized void close() {
        if (drawn) {
            show(System.nanoTime());
            err.println();
            err.flush();
        }
    }
}
