package io.bighorn.dataplane.blockdev;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;

/** Runs a blocking device call on its own virtual thread (the default of the asynchronous calls). */
final class Async {
    private Async() {}

    /** A device call that may fail with an {@link IOException}. */
    @FunctionalInterface
    interface Call {
        void run() throws IOException;
    }

    static CompletableFuture<Void> run(Call call) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread.ofVirtual().name("blockdev-call").start(() -> {
            try {
                call.run();
                done.complete(null);
            } catch (IOException | RuntimeException e) {
                done.completeExceptionally(e);
            }
        });
        return done;
    }
}
