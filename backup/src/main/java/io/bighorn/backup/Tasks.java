package io.bighorn.backup;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/** Waiting for tasks, with their failures rethrown as the exceptions the tasks threw. */
final class Tasks {
    private Tasks() {}

    static <T> T get(Future<T> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException | CompletionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) {
                throw io;
            }
            if (c instanceof RuntimeException r) {
                throw r;
            }
            throw new IOException(c);
        }
    }

    /** Waits for every task; at the first failure cancels the others and rethrows it. */
    static void awaitAll(List<? extends Future<?>> tasks) throws IOException {
        try {
            for (Future<?> f : tasks) {
                get(f);
            }
        } catch (IOException | RuntimeException e) {
            tasks.forEach(f -> f.cancel(true));
            throw e;
        }
    }
}
