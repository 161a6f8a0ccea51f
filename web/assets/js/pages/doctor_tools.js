// Helpers shared by the doctor's panels (records, notes, prescription).

/** A whole number from a form value, or undefined (the API then says what it expects). */
export function int(value) {
  if (value === undefined || value === null || String(value).trim() === "") return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
}

/** A validation error's headline in plain words (the fields themselves are marked and listed). */
export function plainValidation(err, what) {
  if (err && err.code === "validation_failed") err.message = `${what} Check the marked fields.`;
  return err;
}
