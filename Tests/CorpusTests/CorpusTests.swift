import Foundation
import TestSupport
import Testing
import Voxels

@testable import Corpus
@testable import Store

@Suite("Corpora")
struct CorpusTests {
    func store() throws -> Store { try TemporaryStore.make("corpus") }

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
}
