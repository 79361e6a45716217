-- retry.lua: calls connect() until it succeeds, waiting 1 s, 2 s, 4 s ...
-- (at most 30 s) between attempts, on luamockit's timers. The code under
-- test in testing.md: it never sleeps itself, so a test on the virtual
-- clock runs minutes of back-off in microseconds.
local mit = require("luamockit")

local M = {}

--- M.start(connect, on_up) -> job: tries connect() now, then after each
-- failure waits the next back-off; on_up(attempts) once it succeeded.
-- job:cancel() stops it.
function M.start(connect, on_up)
  local job = { attempts = 0, delay = 1000 }
  local function try()
    job.attempts = job.attempts + 1
    if connect() then
      job.timer = nil
      return on_up(job.attempts)
    end
    job.timer = mit.oneoff(job.delay, try)
    job.delay = math.min(job.delay * 2, 30000)
  end
  function job:cancel()
    if self.timer then self.timer:cancel(); self.timer = nil end
  end
  try()
  return job
end

return M
