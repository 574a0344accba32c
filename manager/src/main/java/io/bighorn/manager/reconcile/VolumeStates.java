package io.bighorn.manager.reconcile;

import io.bighorn.manager.model.Volume.State;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The volume state machine as a transition table, and which user actions each state allows.
 *
 * <pre>
 *  creating ──► detached ──► attaching ──► attached ──► detaching ──► detached
 *      │            ▲            │  ▲          │                        │
 *      │            └────────────┘  └──────────┘ (engine lost)          │
 *      └──────────────────────────► deleting ◄──────────────────────────┘ (from any state)
 * </pre>
 */
public final class VolumeStates {
    private static final Map<State, Set<State>> NEXT = Map.of(
            State.CREATING, EnumSet.of(State.DETACHED, State.ATTACHING, State.DELETING),
            State.DETACHED, EnumSet.of(State.ATTACHING, State.DELETING),
            State.ATTACHING, EnumSet.of(State.ATTACHED, State.DETACHING, State.DETACHED, State.DELETING),
            State.ATTACHED, EnumSet.of(State.ATTACHING, State.DETACHING, State.DETACHED, State.DELETING),
            State.DETACHING, EnumSet.of(State.DETACHED, State.ATTACHING, State.DELETING),
            State.DELETING, EnumSet.noneOf(State.class));

    /** User actions on a volume. */
    public enum Action {
        ATTACH,
        DETACH,
        EXPAND,
        SNAPSHOT,
        REVERT,
        UPDATE_REPLICA_COUNT,
        SALVAGE,
        DELETE
    }

    private static final Map<State, Set<Action>> ALLOWED = Map.of(
            State.CREATING, EnumSet.of(Action.ATTACH, Action.DETACH, Action.UPDATE_REPLICA_COUNT, Action.DELETE),
            State.DETACHED,
                    EnumSet.of(
                            Action.ATTACH,
                            Action.DETACH,
                            Action.EXPAND,
                            Action.UPDATE_REPLICA_COUNT,
                            Action.SALVAGE,
                            Action.DELETE),
            State.ATTACHING, EnumSet.of(Action.ATTACH, Action.DETACH, Action.UPDATE_REPLICA_COUNT, Action.DELETE),
            State.ATTACHED,
                    EnumSet.of(
                            Action.ATTACH,
                            Action.DETACH,
                            Action.EXPAND,
                            Action.SNAPSHOT,
                            Action.REVERT,
                            Action.UPDATE_REPLICA_COUNT,
                            Action.SALVAGE,
                            Action.DELETE),
            State.DETACHING, EnumSet.of(Action.ATTACH, Action.DETACH, Action.DELETE),
            State.DELETING, EnumSet.noneOf(Action.class));

    private VolumeStates() {}

    public static boolean canMove(State from, State to) {
        return from == to || NEXT.get(from).contains(to);
    }

    public static boolean allows(State state, Action action) {
        return ALLOWED.get(state).contains(action);
    }

    public static Set<Action> allowed(State state) {
        return ALLOWED.get(state);
    }
}
