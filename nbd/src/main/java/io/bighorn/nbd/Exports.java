package io.bighorn.nbd;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The exports a server offers; looked up at every handshake, so an implementation may change over time. */
public interface Exports {
    /** The export of that name, if any. */
    Optional<Export> find(String name);

    /** Every export, in the order NBD_OPT_LIST shows them. */
    List<Export> list();

    /** A fixed set of exports with distinct names. */
    static Exports of(Export... exports) {
        Map<String, Export> byName = new LinkedHashMap<>();
        for (Export e : exports) {
            if (byName.putIfAbsent(e.name(), e) != null) {
                throw new IllegalArgumentException("duplicate export name '" + e.name() + "'");
            }
        }
        List<Export> all = List.copyOf(byName.values());
        return new Exports() {
            @Override
            public Optional<Export> find(String name) {
                return Optional.ofNullable(byName.get(name));
            }

            @Override
            public List<Export> list() {
                return all;
            }
        };
    }
}
