import Foundation
import Testing

@testable import Engine

@Suite("Training schedule")
struct TrainingScheduleTests {
    @Test func problemsAreNamed() throws {
        var schedule = TrainingSchedule(iterations: 0, checkpointEvery: 5, output: "/nonexistent/m.safetensors")
        #expect(schedule.problem == "iterations must be positive, not 0")
        schedule.iterations = 10
        #expect(schedule.problem == nil)
        schedule.checkpointEvery = 0
        #expect(schedule.problem == "the checkpoint interval must be positive")
        schedule.checkpointEvery = 5
        schedule.resume = true
        #expect(schedule.problem == "no checkpoint /nonexistent/m.safetensors.checkpoint to resume from")
    }

    @Test func commandOptionsFillTheCount() throws {
        let plain = TrainingSchedule(
            iterations: nil, defaultIterations: 200, timeLimit: nil, checkpointEvery: 5, output: "m", resume: false)
        #expect(plain.iterations == 200 && plain.timeLimit == nil && !plain.resume)
        let budgeted = TrainingSchedule(
            iterations: nil, defaultIterations: 200, timeLimit: 60, checkpointEvery: 5, output: "m", resume: true)
        #expect(budgeted.iterations == Int(Int32.max) && budgeted.timeLimit == 60 && budgeted.resume)
        let counted = TrainingSchedule(
            iterations: 7, defaultIterations: 200, timeLimit: 60, checkpointEvery: 5, output: "m", resume: false)
        #expect(counted.iterations == 7)
    }

    @Test func clockEstimatesWhatIsLeft() throws {
        let clock = TrainingClock(start: Date(timeIntervalSinceNow: -10), first: 100, total: 200, limit: nil)
        // 10 s for 50 iterations: 50 more take about 10 s.
        #expect(abs(clock.secondsLeft(at: 150) - 10) < 0.5)
        #expect(!clock.budgetSpent)
        let budgeted = TrainingClock(start: Date(timeIntervalSinceNow: -10), first: 0, total: 1000, limit: 12)
        #expect(budgeted.secondsLeft(at: 10) <= 2 && budgeted.secondsLeft(at: 10) > 1)
        let spent = TrainingClock(start: Date(timeIntervalSinceNow: -10), first: 0, total: 1000, limit: 5)
        #expect(spent.budgetSpent && spent.secondsLeft(at: 10) == 0)
    }
}
