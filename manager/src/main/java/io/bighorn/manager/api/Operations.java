package io.bighorn.manager.api;

import io.bighorn.manager.model.Engine;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.reconcile.EngineApi;
import io.bighorn.manager.reconcile.VolumeController;
import io.bighorn.manager.reconcile.VolumeStates;
import io.bighorn.manager.store.Store;

/** Reaching a volume's running engine for the operations that act on it directly (snapshots). */
final class Operations {
    private final Store store;
    private final EngineApi.Connector engines;

    Operations(Store store, EngineApi.Connector engines) {
        this.store = store;
        this.engines = engines;
    }

    Volume volume(String name) {
        return store.get(Kind.VOLUME, name)
                .orElseThrow(() -> ApiException.notFound("volume '" + name + "' does not exist"));
    }

    void require(Volume v, VolumeStates.Action action) {
        if (v.meta().deleting()) {
            throw ApiException.invalidState("volume '" + v.name() + "' is being deleted");
        }
        if (!VolumeStates.allows(v.status().state(), action)) {
            throw ApiException.invalidState("volume '" + v.name() + "' is "
                    + v.status().state().value() + ": "
                    + action.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ') + " needs one of the states "
                    + java.util.Arrays.stream(Volume.State.values())
                            .filter(s -> VolumeStates.allows(s, action))
                            .map(Volume.State::value)
                            .toList());
        }
    }

    /** The engine of an attached volume. */
    EngineApi engine(Volume v) {
        Engine e = store.get(Kind.ENGINE, VolumeController.engineName(v.name()))
                .filter(x -> !x.status().address().isEmpty())
                .orElseThrow(() ->
                        ApiException.invalidState("volume '" + v.name() + "' has no running engine: attach it first"));
        return engines.connect(e.status().address());
    }
}
