package io.bighorn.manager.model;

/** A setting's stored value (a string, as Longhorn keeps them); definitions live in {@code Settings}. */
public record Setting(Meta meta, String value) implements Resource<Setting> {
    @Override
    public Setting withMeta(Meta m) {
        return new Setting(m, value);
    }
}
