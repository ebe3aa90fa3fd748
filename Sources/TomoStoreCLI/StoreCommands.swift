import ArgumentParser
import Catalog
import Foundation
import Store
import Voxels

/// Arguments shared by commands that work on one dataset of a store.
struct DatasetArguments: ParsableArguments {
    @Argument(help: "The store directory.")
    var store: String

    @Argument(help: "The dataset's name.")
    var name: String
}

/// Parses a `--box x0:x1,y0:y1,z0:z1` value, or fails with one line explaining the form.
func parseBox(_ text: String, shape: Extent3) throws -> Box3 {
    guard let box = Box3(parsing: text) else {
        throw CommandError(
            "malformed box \"\(text)\": write x0:x1,y0:y1,z0:z1 with integers and x0 < x1 (half-open voxel ranges), "
                + "inside 0:\(shape.x),0:\(shape.y),0:\(shape.z)"
        )
    }
    return box
}

/// A dataset's catalog entry plus its storage summary, as a JSON-ready dictionary.
func infoDictionary(_ dataset: Dataset) throws -> [String: Any] {
    let json = Data(try CatalogCoding.entryJSON(dataset.info))
    var dict = try JSONSerialization.jsonObject(with: json) as! [String: Any]
    let summary = try dataset.storageSummary()
    dict["stored_chunks"] = summary.storedChunks
    dict["stored_bytes"] = summary.storedBytes
    dict["raw_bytes"] = summary.rawBytes
    dict["total_chunks"] = dataset.grid.counts.count
    dict["compression_ratio"] = summary.storedBytes > 0 ? Double(summary.rawBytes) / Double(summary.storedBytes) : nil
    return dict
}

/// Pretty, key-sorted JSON of a JSONSerialization value.
func jsonText(any value: Any) throws -> String {
    String(
        decoding: try JSONSerialization.data(
            withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
}
