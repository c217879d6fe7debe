-- Argo CD health for ccupgrade.dev/CceClusterUpgrade (plain Lua: no optional libraries).
-- Reads the standard conditions the operator writes; phase is only used for wording.
local hs = {status = "Progressing", message = "Waiting for the operator to report status"}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

if obj.status == nil then
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
local stalled = condition("Stalled")

if obj.spec ~= nil and obj.spec.suspend == true and reconciling ~= nil and reconciling.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = reconciling.message
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end

local unreachable = ""
if ready ~= nil and ready.reason == "CloudAPIUnavailable" then
  unreachable = " (CCE API unreachable, showing the last known status: " .. (ready.message or "") .. ")"
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  if unreachable ~= "" then
    hs.message = "Phase " .. tostring(obj.status.phase) .. unreachable
  elseif ready ~= nil then
    hs.message = ready.message
    -- Slow is not a failure (Ready stays False, Reconciling True): still Progressing, but said first.
    if obj.status.slow ~= nil then
      hs.message = "UpgradeSlow: " .. (ready.message or "")
    end
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end

if ready ~= nil and obj.status.phase == "Success" and unreachable ~= "" then
  hs.status = "Healthy"
  hs.message = "Upgrade succeeded" .. unreachable
  return hs
end

if ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
end
return hs
