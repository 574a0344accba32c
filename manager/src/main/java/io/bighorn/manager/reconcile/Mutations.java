package io.bighorn.manager.reconcile;

import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Resource;
import io.bighorn.manager.store.Store;
import io.bighorn.manager.store.StoreException;
import java.util.Optional;
import java.util.function.UnaryOperator;

/** Read-modify-write of one object, retried when another writer got there first. */
final class Mutations {
    private Mutations() {}

    /** Applies {@code change} to the current object; a change returning the same object writes nothing. */
    static <R extends Resource<R>> Optional<R> mutate(Store store, Kind<R> kind, String name, UnaryOperator<R> change) {
        for (int attempt = 0; ; attempt++) {
            Optional<R> current = store.get(kind, name);
            if (current.isEmpty()) {
                return Optional.empty();
            }
            R next = change.apply(current.get());
            if (next.equals(current.get())) {
                return current;
            }
            try {
                return Optional.of(store.update(kind, next));
            } catch (StoreException.Conflict e) {
                if (attempt >= 10) {
                    throw e;
                }
            }
        }
    }
}
