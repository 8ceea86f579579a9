// Placeholder until the in-browser signer bundle is built (web/, `make assets`).
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("eds-status");
  if (status) status.textContent = "";
});
