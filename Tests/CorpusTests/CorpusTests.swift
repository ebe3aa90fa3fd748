import Foundation
import TestSupport
import Testing
import Voxels

@testable import Corpus
@testable import Store

@Suite("Corpora")
struct CorpusTests {
    func store() throws -> Store { try TemporaryStore.make("corpus") }

    /// Tiles (16³, two per sample) of a three-sample corpus, with or without prefetching.
    func prefetchCorpusTiles(prefetch: Bool) throws -> CorpusTileIterator {
        let s = try store()
        let recipe = CorpusRecipe(name: "p", samples: 3, size: [32, 32, 24], seed: 5)
        try Corpus.create(recipe, in: s)
        return CorpusTileIterator(recipe: recipe, store: s, tile: 16, tilesPerSample: 2, prefetch: prefetch)
    }

    @Test("a sample is a pure function of (recipe, index); labels lie under every particle centre")
    func pureFunction() throws {
        let s = try store()
        var recipe = CorpusRecipe(name: "c", samples: 10, size: [48, 48, 32], seed: 5)
        recipe.crowding = 0.25
        try Corpus.create(recipe, in: s)
        #expect(try Corpus.recipe("c", in: s) == recipe)
        let a = try Corpus.sample(3, of: recipe, store: s)
        let b = try Corpus.sample(3, of: recipe, store: s)
        #expect(
            a.tomogram == b.tomogram && a.labels == b.labels && a.grandModel == b.grandModel
                && a.particles == b.particles)
        #expect(try Corpus.sample(4, of: recipe, store: s).grandModel != a.grandModel)
        let labels = a.labels.values(as: UInt8.self)
        for p in a.particles {
            #expect(Int(labels[(Int(p.z.rounded()) * 48 + Int(p.y.rounded())) * 48 + Int(p.x.rounded())]) == p.classID)
        }
        #expect(throws: CorpusError.self) { try Corpus.sample(10, of: recipe, store: s) }
        #expect(throws: CorpusError.self) { try Corpus.create(recipe, in: s) }
    }

    @Test("vesicles per sample and their diameters: membrane labels follow; bad recipe values are one error")
    func vesicles() throws {
        let s = try store()
        func membraneVoxels(_ count: Int?, _ diameter: [Double]?) throws -> Int {
            var recipe = CorpusRecipe(
                name: "v\(count ?? -1)-\(diameter?.first ?? 0)", samples: 1, size: [64, 64, 64], seed: 9)
            recipe.voxelSize = 40
            recipe.crowding = 0
            recipe.vesicles = count
            recipe.vesicleDiameterNm = diameter
            try Corpus.create(recipe, in: s)
            #expect(try Corpus.recipe(recipe.name, in: s) == recipe)
            return try Corpus.sample(0, of: recipe, store: s).labels.values(as: UInt8.self).filter { $0 == 1 }.count
        }
        let none = try membraneVoxels(0, [100, 150])
        let one = try membraneVoxels(1, [100, 100])
        let three = try membraneVoxels(3, [100, 100])
        #expect(none == 0 && one > 0 && three > 2 * one, "\(none) \(one) \(three)")
        // A 100 nm shell at 40 Å: its 5 nm labelled band covers about 4π r² · 5 nm / (4 nm)³ voxels.
        let expected = 4 * Double.pi * 500 * 500 * 50 / (40 * 40 * 40)
        #expect(abs(Double(one) / expected - 1) < 0.35, "\(one) voxels vs about \(Int(expected))")
        for (count, diameter) in [(5, [150.0, 100]), (1, [Double.nan, 100]), (2000, nil)] as [(Int, [Double]?)] {
            var recipe = CorpusRecipe(name: "bad", samples: 1, size: [32, 32, 32], seed: 1)
            recipe.vesicles = count
            recipe.vesicleDiameterNm = diameter
            #expect(throws: CorpusError.self) { try Corpus.sample(0, of: recipe, store: s) }
        }
    }

    @Test("template files are kept in the store: samples need the file no more; damage is one error")
    func templateFiles() throws {
        let s = try store()
        let dir = try TemporaryStore.directory("templates")
        let pdb = dir + "/ring.pdb"
        let atoms = (0..<60).map { i -> String in
            let a = 2 * Double.pi * Double(i) / 60
            return String(
                format: "ATOM  %5d  CA  ALA A%4d    %8.3f%8.3f%8.3f  1.00  0.00           C", i + 1, i + 1,
                40 * cos(a), 40 * sin(a), 0.0)
        }
        try (atoms.joined(separator: "\n") + "\nEND\n").write(toFile: pdb, atomically: true, encoding: .utf8)
        var recipe = CorpusRecipe(name: "t", samples: 2, size: [48, 48, 48], seed: 4)
        recipe.templates = ["barrel"]
        recipe.templateFiles = [try Corpus.storeTemplate(pdb, voxelSize: 10, in: s)]
        #expect(recipe.templateFiles?.first?.name == "ring" && recipe.templateFiles?.first?.format == "pdb")
        try Corpus.create(recipe, in: s)
        #expect(try Corpus.recipe("t", in: s) == recipe)
        let a = try Corpus.sample(1, of: recipe, store: s)
        #expect(Set(a.classes.values).isSuperset(of: ["barrel", "ring"]) && a.classes.count == 5)
        #expect(a.particles.contains { $0.className == "ring" })
        try FileManager.default.removeItem(atPath: pdb)
        #expect(try Corpus.sample(1, of: recipe, store: s).tomogram == a.tomogram)
        var missing = recipe
        missing.name = "m"
        missing.templateFiles![0].digest = "0123"
        #expect(throws: CorpusError.self) { try Corpus.sample(0, of: missing, store: s) }
    }

    @Test("the tile iterator yields tiles of the requested size with matching labels")
    func tiles() throws {
        let s = try store()
        let recipe = CorpusRecipe(name: "c", samples: 2, size: [40, 40, 24], seed: 1)
        try Corpus.create(recipe, in: s)
        var it = CorpusTileIterator(recipe: recipe, store: s, tile: 16)
        for k in 0..<3 {
            let t = try it.next()
            #expect(
                t.sample == k % 2 && t.tomogram.shape == Extent3(x: 16, y: 16, z: 16)
                    && t.labels.shape == t.tomogram.shape)
            let whole = try Corpus.sample(t.sample, of: recipe, store: s)
            #expect(
                t.labels
                    == whole.labels.extracting(
                        Box3(
                            lower: t.origin, upper: Extent3(x: t.origin.x + 16, y: t.origin.y + 16, z: t.origin.z + 16))
                    ))
        }
    }

    @Test("prefetching the next sample on another thread yields the same tiles, also when the order jumps")
    func prefetchedTiles() throws {
        var plain = try prefetchCorpusTiles(prefetch: false)
        var prefetched = try prefetchCorpusTiles(prefetch: true)
        for k in [0, 1, 2, 3, 4, 5, 6, 7, 2, 3, 9] {  // through every sample, around, then back and ahead
            (plain.k, prefetched.k) = (k, k)
            let (a, b) = (try plain.next(), try prefetched.next())
            #expect(a.sample == b.sample && a.origin == b.origin && a.tomogram == b.tomogram && a.labels == b.labels)
            #expect(a.mean == b.mean && a.rms == b.rms)
        }
    }

    @Test("no sample is prefetched whose tiles all lie past the tiles asked for")
    func prefetchStopsAtTheLastTile() throws {
        var tiles = try prefetchCorpusTiles(prefetch: true)
        tiles.tileCount = 4  // samples 0 and 1
        _ = try tiles.next()
        #expect(tiles.pending?.index == 1)
        tiles.k = 2
        let last = try tiles.next()
        #expect(last.sample == 1 && tiles.pending == nil)
    }

    @Test("finish waits for the sample being made, and the tiles after it are the same")
    func finishSettlesPrefetch() throws {
        var plain = try prefetchCorpusTiles(prefetch: false)
        var tiles = try prefetchCorpusTiles(prefetch: true)
        _ = try tiles.next()
        let pending = try #require(tiles.pending)
        tiles.finish()
        #expect(pending.isSettled && tiles.pending == nil)
        for k in [2, 3, 4] {
            (plain.k, tiles.k) = (k, k)
            let (a, b) = (try plain.next(), try tiles.next())
            #expect(a.sample == b.sample && a.origin == b.origin && a.tomogram == b.tomogram)
        }
    }
}
