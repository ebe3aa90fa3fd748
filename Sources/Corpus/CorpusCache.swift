import Catalog
import Foundation
import Simulation
import Store
import Voxels

extension Corpus {
    /// The dataset-name prefix of sample i of a corpus (`NAME/000042`).
    public static func samplePrefix(_ recipe: CorpusRecipe, _ i: Int) -> String {
        String(format: "%@/%06d", recipe.name, i)
    }

    /// Sample i from the store's cache (datasets `PREFIX/tomogram`, `/grand-model`, `/labels` with its
    /// particle table), or generated — and cached, unless `cache` is false. Same bytes either way.
    public static func cachedSample(_ i: Int, of recipe: CorpusRecipe, store: Store, cache: Bool) throws -> CorpusSample
    {
        let prefix = samplePrefix(recipe, i)
        let names = ["tomogram", "grand-model", "labels"].map { "\(prefix)/\($0)" }
        if try names.allSatisfy({ try isComplete($0, in: store) }) {
            let (t, g, l) = (
                try store.dataset(named: names[0]), try store.dataset(named: names[1]),
                try store.dataset(named: names[2])
            )
            let particles = ParticleTable.particles(try ParticleTable.load(store, sample: prefix))
            let classes = Dictionary(
                uniqueKeysWithValues: (l.info.classes ?? [:]).compactMap { k, v in Int(k).map { ($0, v) } })
            return CorpusSample(
                index: i, grandModel: try g.read(Box3(shape: g.shape)), labels: try l.read(Box3(shape: l.shape)),
                tomogram: try t.read(Box3(shape: t.shape)), particles: particles, classes: classes)
        }
        let sample = try Corpus.sample(i, of: recipe, store: store)
        if cache {
            // One transaction for the three datasets and the particle table: never a partial sample, and
            // a process that stored the same sample first (same bytes: samples are reproducible) wins.
            let attributes: [String: JSONValue] = ["corpus": .string(recipe.name), "sample": .number(Double(i))]
            let v = recipe.voxelSize
            let csv = Array(ParticleTable.csv(sample.particles, voxelSize: v).utf8)
            try store.storeVolumes(
                [
                    Store.newVolume(
                        sample.grandModel, name: names[1], kind: .grandModel, voxelSize: v, attributes: attributes),
                    Store.newVolume(
                        sample.labels, name: names[2], kind: .labels, voxelSize: v, attributes: attributes,
                        classes: Dictionary(uniqueKeysWithValues: sample.classes.map { (String($0.key), $0.value) }),
                        blobs: [("particles.csv", csv)]),
                    Store.newVolume(
                        sample.tomogram, name: names[0], kind: .synthetic, voxelSize: v, attributes: attributes,
                        contrast: Contrast.simulated),
                ], keepExisting: true)
        }
        return sample
    }

    /// True when the store holds a complete dataset of that name (looked up by name, not by listing
    /// the catalog, which grows with every cached sample).
    private static func isComplete(_ name: String, in store: Store) throws -> Bool {
        do {
            return try store.info(named: name).complete
        } catch StoreError.unknownDataset {
            return false
        }
    }
}
