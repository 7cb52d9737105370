// Drives Debian's Chromium through the approval pages as a person would: open the link from the
// notification, read the confirmation page, press its button, read the result. Prints what each page
// said as one JSON line; keeps a screenshot of each page in OUT_DIR.
//
// usage: node approve.mjs APPROVAL_LINK OUT_DIR
import { chromium } from 'playwright-core'

const [link, outDir] = process.argv.slice(2)
if (!link || !outDir) {
  console.error('usage: node approve.mjs APPROVAL_LINK OUT_DIR')
  process.exit(2)
}
const browser = await chromium.launch({
  executablePath: process.env.FIREBREAK_CHROMIUM ?? '/usr/bin/chromium',
  // This machine's network is closed: no background connections, no first-run, no sandbox as root.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 1000 } })
  const blocked = []
  // The page must load nothing from elsewhere: any request but the page itself is recorded.
  page.on('request', (r) => { if (!r.url().startsWith(link.split('?')[0])) blocked.push(r.url()) })
  const opened = await page.goto(link)
  const confirmation = {
    status: opened.status(),
    title: await page.title(),
    heading: await page.locator('h1').innerText(),
    steps: await page.locator('ul').nth(1).innerText(),
    button: await page.getByRole('button').innerText(),
  }
  await page.screenshot({ path: `${outDir}/approval-page.png`, fullPage: true })
  // The answer runs the containment before the page comes back: on a loaded 2-core machine that can
  // take longer than the 30 s default, which says nothing about the page.
  await Promise.all([page.waitForNavigation({ timeout: 90_000 }), page.getByRole('button', { name: /Approve/ }).click()])
  const result = {
    heading: await page.locator('h1').innerText(),
    text: await page.locator('main').innerText(),
  }
  await page.screenshot({ path: `${outDir}/approval-result.png`, fullPage: true })
  console.log(JSON.stringify({ confirmation, result, elsewhere: blocked }))
} finally {
  await browser.close()
}
